import type { RecordContext } from './operators/context.ts'

/**
 * The live tap: what an operator emitted, sampled and bounded, for someone watching (the dashboard). A
 * processor compiles its operator chain without any tap code; only while an operator is tapped does it
 * recompile (at the next batch) with a sampler after that operator, so a pipeline nobody taps pays one
 * integer comparison per batch.
 */

/** One sampled record as the tap shows it. */
export interface TapRecord {
  /** When its batch ran, ms since the epoch. */
  readonly at: number
  readonly batchId: number
  /** partition@offset of the input record it stems from ("derived@…" for a window's or state's rows). */
  readonly source: string
  readonly key: string | null
  /** The value as text (JSON for objects), cut to `maxChars`. */
  readonly preview: string
  /** The length of the whole text before the cut (bytes for a raw record). */
  readonly chars: number
  /** The instance that sampled it, in a tap merged from several (a supervisor's, from its workers). */
  readonly instance?: string
}

export interface TapLimits {
  /**
   * Records sampled per second at most (a token bucket holding one second's worth, and at least one record,
   * so that a share below one a second still samples). Default 10.
   */
  readonly perSecond?: number
  /** Records kept for a watcher who arrives later. Default 50. */
  readonly keep?: number
  /** Characters of each record's text. Default 2,000. */
  readonly maxChars?: number
}

export type TapListener = (records: readonly TapRecord[]) => void

/** The tap of one operator of one pipeline, open while anyone watches it. */
export class OperatorTap {
  readonly #perSecond: number
  readonly #keep: number
  readonly #maxChars: number
  readonly #listeners = new Set<TapListener>()
  readonly #recent: TapRecord[] = []
  #tokens: number
  #refilledAt: number | undefined

  constructor(limits: TapLimits = {}) {
    const resolved = tapLimits(limits)
    this.#perSecond = resolved.perSecond
    this.#keep = resolved.keep
    this.#maxChars = resolved.maxChars
    this.#tokens = this.#capacity
  }

  get #capacity(): number {
    return Math.max(1, this.#perSecond)
  }

  /** The last records sampled, oldest first. */
  get recent(): readonly TapRecord[] {
    return this.#recent
  }

  /** A sampler for one batch, or undefined when this second's records are all taken. */
  sampler(batchId: number, now: number): TapSampler | undefined {
    this.#refill(now)
    const size = Math.floor(this.#tokens)
    if (size < 1) return undefined
    return new TapSampler(size, (picked) => this.#deliver(picked, batchId, now))
  }

  /**
   * Records sampled elsewhere (a worker's tap), kept to this tap's bound: when more arrive than this second
   * has left, a uniform choice of them is shown.
   */
  merge(records: readonly TapRecord[], now: number): void {
    this.#refill(now)
    const allowed = pickUniform(records, Math.floor(this.#tokens))
    if (allowed.length === 0) return
    this.#tokens -= allowed.length
    this.#publish(allowed)
  }

  #refill(now: number): void {
    if (this.#refilledAt !== undefined)
      this.#tokens = Math.min(
        this.#capacity,
        this.#tokens + (Math.max(0, now - this.#refilledAt) * this.#perSecond) / 1000,
      )
    this.#refilledAt = now
  }

  listen(listener: TapListener): void {
    this.#listeners.add(listener)
  }

  /** Returns true when nobody listens any more. */
  unlisten(listener: TapListener): boolean {
    this.#listeners.delete(listener)
    return this.#listeners.size === 0
  }

  #deliver(picked: readonly Picked[], batchId: number, at: number): void {
    // Several samplers of one batch (a scaled-out run's tasks) share this second's records.
    const allowed = picked.slice(0, Math.max(0, Math.floor(this.#tokens)))
    if (allowed.length === 0) return
    this.#tokens -= allowed.length
    this.#publish(allowed.map(({ value, context }) => view(value, context, batchId, at, this.#maxChars)))
  }

  #publish(records: readonly TapRecord[]): void {
    this.#recent.push(...records)
    if (this.#recent.length > this.#keep) this.#recent.splice(0, this.#recent.length - this.#keep)
    for (const listener of this.#listeners) listener(records)
  }
}

interface Picked {
  readonly value: unknown
  readonly context: RecordContext
}

/** A uniform sample (reservoir) of up to `size` of the values one batch offers. */
export class TapSampler {
  readonly #size: number
  readonly #picked: Picked[] = []
  readonly #done: (picked: readonly Picked[]) => void
  #seen = 0

  constructor(size: number, done: (picked: readonly Picked[]) => void) {
    this.#size = size
    this.#done = done
  }

  offer(value: unknown, context: RecordContext): void {
    this.#seen++
    if (this.#picked.length < this.#size) this.#picked.push({ value, context })
    else {
      const slot = Math.floor(Math.random() * this.#seen)
      if (slot < this.#size) this.#picked[slot] = { value, context }
    }
  }

  /** Hands the sample to the tap (once, after the batch's operators ran). */
  finish(): void {
    this.#done(this.#picked)
  }
}

/** An operator of a pipeline, as a tap names it. */
export interface TapKey {
  readonly pipelineId: string
  readonly operatorId: string
}

/** Told when an operator's tap opens (its first watcher came) and closes (its last watcher left). */
export interface TapsObserver {
  opened(tap: TapKey): void
  closed(tap: TapKey): void
}

/**
 * Every open tap of a process, by pipeline and operator. `version` changes whenever a tap opens or closes:
 * a processor compares it once per batch to know whether to recompile its chain.
 */
export class Taps {
  readonly #limits: Required<TapLimits>
  readonly #byPipeline = new Map<string, Map<string, OperatorTap>>()
  readonly #observers = new Set<TapsObserver>()
  #version = 0

  constructor(limits: TapLimits = {}) {
    this.#limits = tapLimits(limits)
  }

  get version(): number {
    return this.#version
  }

  /** The bounds each tap opened here keeps, defaults filled in. */
  get limits(): Required<TapLimits> {
    return this.#limits
  }

  /** Every tap open now. */
  get opened(): readonly TapKey[] {
    return [...this.#byPipeline].flatMap(([pipelineId, taps]) =>
      [...taps.keys()].map((operatorId) => ({ pipelineId, operatorId })),
    )
  }

  /** The open taps of a pipeline, by operator id (undefined: none). */
  of(pipelineId: string): ReadonlyMap<string, OperatorTap> | undefined {
    return this.#byPipeline.get(pipelineId)
  }

  /** Tells `observer` of every tap that opens or closes from now on; returns the function that stops it. */
  observe(observer: TapsObserver): () => void {
    this.#observers.add(observer)
    return () => this.#observers.delete(observer)
  }

  /** Records another process sampled for an open tap (dropped when it closed meanwhile). */
  merge(tap: TapKey, records: readonly TapRecord[], now: number): void {
    this.#byPipeline.get(tap.pipelineId)?.get(tap.operatorId)?.merge(records, now)
  }

  /**
   * Starts watching an operator: `listener` gets each batch's sample, after the records kept so far.
   * Returns the function that stops watching; the last watcher gone, the operator runs untapped again.
   * `limits` bound the tap when this call opens it (default: this process's).
   */
  open(pipelineId: string, operatorId: string, listener: TapListener, limits?: TapLimits): () => void {
    let taps = this.#byPipeline.get(pipelineId)
    if (!taps) {
      taps = new Map()
      this.#byPipeline.set(pipelineId, taps)
    }
    let tap = taps.get(operatorId)
    if (!tap) {
      tap = new OperatorTap(limits ?? this.#limits)
      taps.set(operatorId, tap)
      this.#version++
      for (const observer of this.#observers) observer.opened({ pipelineId, operatorId })
    }
    if (tap.recent.length > 0) listener(tap.recent)
    tap.listen(listener)
    const opened = tap
    let closed = false
    return () => {
      if (closed) return
      closed = true
      if (!opened.unlisten(listener)) return
      taps.delete(operatorId)
      if (taps.size === 0) this.#byPipeline.delete(pipelineId)
      this.#version++
      for (const observer of this.#observers) observer.closed({ pipelineId, operatorId })
    }
  }
}

function tapLimits(limits: TapLimits): Required<TapLimits> {
  return { perSecond: limits.perSecond ?? 10, keep: limits.keep ?? 50, maxChars: limits.maxChars ?? 2000 }
}

/** `count` of `items` chosen uniformly (all of them when they are no more), in their order. */
function pickUniform<T>(items: readonly T[], count: number): readonly T[] {
  if (count >= items.length) return items
  if (count <= 0) return []
  const indexes = items.map((_, i) => i)
  // A partial Fisher–Yates shuffle: the first `count` places end up a uniform choice.
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(Math.random() * (indexes.length - i))
    ;[indexes[i], indexes[j]] = [indexes[j]!, indexes[i]!]
  }
  return indexes
    .slice(0, count)
    .sort((a, b) => a - b)
    .map((i) => items[i]!)
}

function view(
  value: unknown,
  context: RecordContext,
  batchId: number,
  at: number,
  maxChars: number,
): TapRecord {
  // A raw record of 10 MB is decoded only as far as it is shown.
  const text = Buffer.isBuffer(value) ? value.subarray(0, maxChars * 4).toString('utf8') : asText(value)
  const chars = Buffer.isBuffer(value) ? value.length : text.length
  const record = context.record
  return {
    at,
    batchId,
    source: `${record.partition}@${record.offset}`,
    key: record.key === null || record.key === undefined ? null : String(record.key).slice(0, 200),
    preview: text.length > maxChars || chars > text.length ? `${text.slice(0, maxChars)}…` : text,
    chars,
  }
}

function asText(value: unknown): string {
  if (value === null || value === undefined) return String(value)
  if (typeof value === 'string') return value
  try {
    return (
      JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? String(value)
    )
  } catch {
    return String(value)
  }
}
