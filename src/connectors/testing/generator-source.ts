import { ClickstreamGenerator, type GeneratedRecord, type Injection } from '../../clickstream/generator.ts'
import { UsageError } from '../../errors.ts'
import type {
  PollOptions,
  Positions,
  SourceContext,
  SourceReader,
  SourceRecord,
  SourceSpec,
} from '../../runtime/source.ts'
import { sleep } from '../../runtime/wait.ts'
import { murmur2 } from '../kafka/murmur2.ts'

export interface GeneratorSourceOptions {
  /** Same seed (and users, startTime, fractions, partitions): the same records. Default 1. */
  readonly seed?: number
  /** Size of the user population; default 100 000 (as `sluice produce`). */
  readonly users?: number
  /** Records are spread over this many partitions by user id, like a keyed Kafka topic. Default 4. */
  readonly partitions?: number
  /** Events per second of (the context's) clock since open; default unlimited. */
  readonly rate?: number
  /** Total records (injected ones included); makes the source bounded. Default: endless. */
  readonly count?: number
  /** Fractions of malformed, late and duplicate records, as for `sluice produce` (0 … 1 together). */
  readonly bad?: number
  readonly late?: number
  readonly dupes?: number
  /** Event time at which the simulation starts (ms). Default 2026-03-02T09:00:00Z, to stay deterministic. */
  readonly startTime?: number
}

/** A generated record; `injected` says what was done to it on purpose (Kafka's `sluice-injected` header). */
export interface GeneratorRecord extends SourceRecord {
  readonly key: string
  readonly value: Buffer
  readonly injected: Injection | undefined
}

export const DEFAULT_GENERATOR_START = Date.parse('2026-03-02T09:00:00Z')

interface Resolved {
  readonly seed: number
  readonly users: number
  readonly partitions: number
  readonly rate: number | undefined
  readonly count: number | undefined
  readonly bad: number
  readonly late: number
  readonly dupes: number
  readonly startTime: number
}

/** Records skipped or generated between two yields to the event loop (so a long resume stays interruptible). */
const YIELD_EVERY = 50_000

/**
 * The clickstream of `sluice produce`, in-process: values are the record bytes exactly as `sluice produce`
 * publishes them (injected malformed records included), keys the user ids. Record i of the stream goes to
 * partition `murmur2(key) % partitions` (Kafka's default partitioner, so partition n holds what partition
 * n of a topic with as many partitions gets from `sluice produce` with the same options). A position is the
 * number of records of the partition already delivered; resuming regenerates the stream from the seed and
 * skips what was delivered (about 4 s per million records), so a replay yields exactly the same records.
 * Record timestamps are the simulated clock (event time of the simulation when the record was generated).
 */
export class GeneratorSourceReader implements SourceReader {
  /** The lag is known in memory: asked after every batch. */
  readonly lagIntervalMs = 0
  readonly description: string
  readonly bounded: boolean
  readonly #options: Resolved
  readonly #context: SourceContext
  readonly #names: string[]
  readonly #partitionOf = new Map<string, number>()
  #generator: ClickstreamGenerator | undefined
  /** Records generated so far (all partitions). */
  #generated = 0
  /** Per partition: records generated so far, and records delivered (the position). */
  #seen: number[]
  #next: number[]
  /** Generated but held back by a poll's `until`, in generation order. */
  #held: GeneratorRecord[] = []
  #delivered: boolean[]
  #openedAt = 0
  #deliveredSinceOpen = 0
  #end: Positions | undefined

  constructor(options: Resolved, context: SourceContext) {
    this.#options = options
    this.#context = context
    this.bounded = options.count !== undefined
    this.#names = Array.from({ length: options.partitions }, (_, i) => `generator:${i}`)
    this.#seen = new Array(options.partitions).fill(0)
    this.#next = new Array(options.partitions).fill(0)
    this.#delivered = new Array(options.partitions).fill(false)
    this.description = `generator (seed ${options.seed}, ${options.partitions} partitions${
      options.count !== undefined ? `, ${options.count} records` : ''
    }${options.rate ? `, ${options.rate}/s` : ''})`
  }

  async open(resumeFrom: Positions | undefined): Promise<void> {
    this.#generator = newGenerator(this.#options)
    this.#generated = 0
    this.#held = []
    this.#seen.fill(0)
    this.#delivered.fill(false)
    this.#next = this.#names.map((name) => resumeFrom?.[name] ?? 0)
    // Regenerate what was delivered before, and skip it.
    const behind = () => this.#next.some((n, p) => this.#seen[p]! < n)
    while (behind() && !this.#exhausted()) {
      const record = this.#generate()
      const p = this.#partition(record.key)
      if (record.offset >= this.#next[p]!) this.#held.push(record)
      if (this.#generated % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve))
    }
    this.#openedAt = this.#context.now()
    this.#deliveredSinceOpen = 0
  }

  async poll(options: PollOptions): Promise<SourceRecord[]> {
    let budget = Math.min(options.maxRecords, this.#allowed())
    if (budget <= 0 && this.#options.rate && !options.signal?.aborted) {
      // Wait (up to idleMs) until the rate allows the next record.
      const rate = this.#options.rate
      const due = this.#openedAt + ((this.#deliveredSinceOpen + 1) * 1000) / rate - this.#context.now()
      await sleep(Math.min(Math.max(due, 0), options.idleMs), options.signal)
      budget = Math.min(options.maxRecords, this.#allowed())
    }
    const out: GeneratorRecord[] = []
    if (budget <= 0) return out
    const until = options.until
    const blocked = (record: GeneratorRecord) => {
      if (!until) return false
      const limit = until[record.partition]
      return limit === undefined || record.offset >= limit
    }
    const deliver = (record: GeneratorRecord) => {
      const p = this.#partition(record.key)
      this.#next[p] = record.offset + 1
      this.#delivered[p] = true
      out.push(record)
    }
    if (this.#held.length > 0) {
      const held = this.#held
      this.#held = []
      for (const record of held) {
        if (out.length < budget && !blocked(record)) deliver(record)
        else this.#held.push(record)
      }
    }
    while (out.length < budget && !this.#exhausted() && !options.signal?.aborted) {
      if (until && this.#reached(until)) break
      const record = this.#generate()
      if (blocked(record)) this.#held.push(record)
      else deliver(record)
      if (this.#generated % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve))
    }
    this.#deliveredSinceOpen += out.length
    return out
  }

  /** With `count`: the number of records per partition among the first `count`. */
  async endPositions(): Promise<Positions> {
    if (this.#options.count === undefined)
      throw new UsageError(
        'generator(): without count the stream never ends; give count for availableNow or bounded runs.',
      )
    this.#end ??= await partitionCounts(this.#options)
    return this.#end
  }

  caughtUp(end: Positions): boolean {
    return this.#reached(end)
  }

  pendingPartitions(): ReadonlySet<string> {
    const pending = new Set<string>()
    for (let p = 0; p < this.#names.length; p++) {
      if (this.#delivered[p]) continue
      const end = this.#end?.[this.#names[p]!]
      if (end === undefined ? !this.#exhausted() : this.#next[p]! < end) pending.add(this.#names[p]!)
    }
    return pending
  }

  async lag(): Promise<Readonly<Record<string, number>> | undefined> {
    const end = this.#end
    if (!end) return undefined
    return Object.fromEntries(
      this.#names.map((name, p) => [name, (end[name] ?? 0) - this.#next[p]!] as const),
    )
  }

  async close(): Promise<void> {
    this.#generator = undefined
    this.#held = []
  }

  /** Records the rate still allows since open (unlimited without a rate). */
  #allowed(): number {
    const rate = this.#options.rate
    if (!rate) return Number.POSITIVE_INFINITY
    const elapsed = Math.max(0, this.#context.now() - this.#openedAt)
    return Math.floor((elapsed * rate) / 1000) - this.#deliveredSinceOpen
  }

  #exhausted(): boolean {
    return this.#options.count !== undefined && this.#generated >= this.#options.count
  }

  #reached(end: Positions): boolean {
    for (let p = 0; p < this.#names.length; p++) {
      const target = end[this.#names[p]!]
      if (target !== undefined && this.#next[p]! < target) return false
    }
    return true
  }

  #generate(): GeneratorRecord {
    const generator = this.#generator
    if (!generator) throw new Error('internal: generator source used before open()')
    const record: GeneratedRecord = generator.next()
    this.#generated++
    const p = this.#partition(record.key)
    const offset = this.#seen[p]!
    this.#seen[p] = offset + 1
    return {
      partition: this.#names[p]!,
      offset,
      key: record.key,
      value: record.value,
      timestamp: generator.now,
      injected: record.injected,
    }
  }

  #partition(key: string): number {
    let p = this.#partitionOf.get(key)
    if (p === undefined) {
      p = kafkaPartition(key, this.#options.partitions)
      this.#partitionOf.set(key, p)
    }
    return p
  }
}

/**
 * The clickstream as a source: `pipeline('demo').from(generator({ count: 10_000, bad: 0.01 }))`. Values are
 * the JSON bytes (parse() them with clickEventSchema from src/clickstream/zod-schema.ts).
 */
export function generator(options: GeneratorSourceOptions = {}): SourceSpec<Buffer> {
  const resolved = resolveOptions(options)
  const identity = {
    seed: resolved.seed,
    users: resolved.users,
    partitions: resolved.partitions,
    startTime: resolved.startTime,
    bad: resolved.bad,
    late: resolved.late,
    dupes: resolved.dupes,
  }
  return {
    type: 'generator',
    options: {
      ...identity,
      ...(resolved.rate !== undefined ? { rate: resolved.rate } : {}),
      ...(resolved.count !== undefined ? { count: resolved.count } : {}),
    },
    identity,
    create: (context) => new GeneratorSourceReader(resolved, context),
  }
}

function resolveOptions(options: GeneratorSourceOptions): Resolved {
  const seed = options.seed ?? 1
  if (!Number.isSafeInteger(seed)) throw new UsageError(`generator(): seed must be an integer, got ${seed}.`)
  const positiveInt = (name: string, value: number) => {
    if (!(Number.isSafeInteger(value) && value > 0))
      throw new UsageError(`generator(): ${name} must be a positive whole number, got ${value}.`)
    return value
  }
  const users = positiveInt('users', options.users ?? 100_000)
  const partitions = positiveInt('partitions', options.partitions ?? 4)
  const count = options.count
  if (count !== undefined && !(Number.isSafeInteger(count) && count >= 0))
    throw new UsageError(`generator(): count must be a whole number ≥ 0, got ${count}.`)
  const rate = options.rate
  if (rate !== undefined && !(Number.isFinite(rate) && rate >= 0))
    throw new UsageError(`generator(): rate must be a number of events per second ≥ 0, got ${rate}.`)
  const fraction = (name: string, value: number | undefined) => {
    const v = value ?? 0
    if (!(v >= 0 && v <= 1)) throw new UsageError(`generator(): ${name} must be between 0 and 1, got ${v}.`)
    return v
  }
  const bad = fraction('bad', options.bad)
  const late = fraction('late', options.late)
  const dupes = fraction('dupes', options.dupes)
  if (bad + late + dupes > 1)
    throw new UsageError(`generator(): bad + late + dupes must be at most 1, got ${bad + late + dupes}.`)
  const startTime = options.startTime ?? DEFAULT_GENERATOR_START
  if (!Number.isFinite(startTime)) throw new UsageError('generator(): startTime is not a valid time.')
  return { seed, users, partitions, rate: rate || undefined, count, bad, late, dupes, startTime }
}

function newGenerator(options: Resolved): ClickstreamGenerator {
  return new ClickstreamGenerator({
    seed: options.seed,
    users: options.users,
    startTime: options.startTime,
    bad: options.bad,
    late: options.late,
    dupes: options.dupes,
  })
}

/** Per-partition counts among the first `count` records, cached per process (they cost a pass of generation). */
const countsCache = new Map<string, Positions>()

async function partitionCounts(options: Resolved): Promise<Positions> {
  const { rate: _rate, ...identity } = options
  const cacheKey = JSON.stringify(identity)
  const cached = countsCache.get(cacheKey)
  if (cached) return cached
  const counts = new Array<number>(options.partitions).fill(0)
  const partitionOf = new Map<string, number>()
  const generator = newGenerator(options)
  for (let i = 0; i < (options.count ?? 0); i++) {
    const key = generator.next().key
    let p = partitionOf.get(key)
    if (p === undefined) {
      p = kafkaPartition(key, options.partitions)
      partitionOf.set(key, p)
    }
    counts[p]!++
    if ((i + 1) % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve))
  }
  const end = Object.fromEntries(counts.map((n, p) => [`generator:${p}`, n] as const))
  countsCache.set(cacheKey, end)
  return end
}

/** Kafka's default partitioner for a keyed record: murmur2 of the key's UTF-8 bytes, made positive, mod n. */
export function kafkaPartition(key: string, partitions: number): number {
  return (murmur2(Buffer.from(key, 'utf8')) & 0x7fffffff) % partitions
}
