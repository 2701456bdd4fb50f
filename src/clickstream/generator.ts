import type { ClickEvent } from './event.ts'
import { Random } from './random.ts'
import { ClickstreamSimulator, type SimulatorOptions } from './simulator.ts'

/** Kinds of malformed records `--bad` mixes in; they take turns. */
export const BAD_KINDS = ['broken-json', 'missing-fields', 'wrong-types', 'invalid-utf8'] as const
export type BadKind = (typeof BAD_KINDS)[number]

/** What was done to a record on purpose, as carried in the `sluice-injected` header. */
export type Injection = 'late' | 'dupe' | `bad:${BadKind}`

/** Kafka header marking injected records (value: "late", "dupe" or "bad:<kind>"), so tests can count them. */
export const INJECTED_HEADER = 'sluice-injected'

export const LATE_MIN_MS = 2 * 60_000
export const LATE_MAX_MS = 30 * 60_000

/** How many recent valid records a duplicate is drawn from. */
const DUPE_HISTORY = 1000

export interface GeneratorOptions extends SimulatorOptions {
  /** Fraction of records that are malformed (0…1). */
  readonly bad?: number
  /** Fraction of records whose event time lies 2–30 minutes before the simulated clock. */
  readonly late?: number
  /** Fraction of records that repeat a recently sent record (same key and value bytes). */
  readonly dupes?: number
}

export interface GeneratedRecord {
  /** The user id: records of a user stay in order on one partition. */
  readonly key: string
  readonly value: Buffer
  readonly injected: Injection | undefined
}

/**
 * Turns simulated events into records and injects the faults a pipeline has to survive. The decisions come
 * from a second seeded stream that draws three numbers per record whatever the fractions are, so the same
 * seed and options give the same records. The fractions must add up to at most 1.
 */
export class ClickstreamGenerator {
  readonly #simulator: ClickstreamSimulator
  readonly #random: Random
  readonly #bad: number
  readonly #late: number
  readonly #dupes: number
  readonly #history: GeneratedRecord[] = []
  #historyNext = 0
  #badCount = 0

  constructor(options: GeneratorOptions) {
    const total = (options.bad ?? 0) + (options.late ?? 0) + (options.dupes ?? 0)
    if (total > 1) throw new Error(`internal: bad + late + dupes must be at most 1, got ${total}`)
    this.#simulator = new ClickstreamSimulator(options)
    this.#random = new Random(options.seed, 'inject')
    this.#bad = options.bad ?? 0
    this.#late = options.late ?? 0
    this.#dupes = options.dupes ?? 0
  }

  /** Event time of the simulation (of the last event generated). */
  get now(): number {
    return this.#simulator.now
  }

  next(): GeneratedRecord {
    const r = this.#random
    // One draw picks what happens to the record, so each fraction is the share of all records it gets.
    const u = r.next()
    const a = r.next()
    const b = r.next()
    if (u < this.#dupes && this.#history.length > 0) {
      const original = this.#history[Math.floor(a * this.#history.length)]!
      return { key: original.key, value: original.value, injected: 'dupe' }
    }
    const event = this.#simulator.next()
    if (u >= this.#dupes && u < this.#dupes + this.#bad) {
      const kind = BAD_KINDS[this.#badCount++ % BAD_KINDS.length]!
      return { key: event.user_id, value: malformed(event, kind, a, b), injected: `bad:${kind}` }
    }
    let record: GeneratedRecord
    if (u >= this.#dupes + this.#bad && u < this.#dupes + this.#bad + this.#late) {
      const behind = LATE_MIN_MS + Math.floor(a * (LATE_MAX_MS - LATE_MIN_MS))
      const shifted = { ...event, event_time: new Date(this.#simulator.now - behind).toISOString() }
      record = { key: event.user_id, value: Buffer.from(JSON.stringify(shifted)), injected: 'late' }
    } else {
      record = { key: event.user_id, value: Buffer.from(JSON.stringify(event)), injected: undefined }
    }
    this.#remember(record)
    return record
  }

  #remember(record: GeneratedRecord): void {
    if (this.#history.length < DUPE_HISTORY) this.#history.push(record)
    else this.#history[this.#historyNext] = record
    this.#historyNext = (this.#historyNext + 1) % DUPE_HISTORY
  }
}

const REQUIRED_TO_DROP = ['event_id', 'event_type', 'event_time', 'user_id', 'session_id'] as const

/** The bytes of a deliberately broken version of `event`. `a` and `b` are uniform draws in [0, 1). */
export function malformed(event: ClickEvent, kind: BadKind, a: number, b: number): Buffer {
  const text = JSON.stringify(event)
  switch (kind) {
    case 'broken-json': {
      // A strict prefix of a JSON object is never valid JSON: the record was cut off.
      const cut = Math.floor(text.length * (0.2 + 0.7 * a))
      return Buffer.from(text.slice(0, Math.min(cut, text.length - 1)))
    }
    case 'missing-fields': {
      const copy: Record<string, unknown> = { ...event }
      const first = Math.floor(a * REQUIRED_TO_DROP.length)
      delete copy[REQUIRED_TO_DROP[first]!]
      if (b < 0.3) delete copy[REQUIRED_TO_DROP[(first + 1) % REQUIRED_TO_DROP.length]!]
      return Buffer.from(JSON.stringify(copy))
    }
    case 'wrong-types': {
      const copy: Record<string, unknown> = { ...event }
      const variant = Math.floor(a * 4)
      if (variant === 0) copy.event_time = Date.parse(event.event_time)
      else if (variant === 1) copy.user_id = Number(event.user_id.slice(2))
      else if (variant === 2) copy.schema_version = 'one'
      else if (event.product) copy.product = { ...event.product, price: 'abc' }
      else copy.page = event.page.path
      return Buffer.from(JSON.stringify(copy))
    }
    case 'invalid-utf8': {
      // 0xff and 0xfe never occur in UTF-8: put them inside the page title.
      const bytes = Buffer.from(text)
      const at = bytes.indexOf('"title":"') + '"title":"'.length
      return Buffer.concat([bytes.subarray(0, at), Buffer.from([0xff, 0xfe]), bytes.subarray(at)])
    }
  }
}
