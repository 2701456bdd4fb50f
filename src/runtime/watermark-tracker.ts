/** What the offsets log records per batch about event time, so replays and restarts agree. */
export interface WatermarkState {
  /** The watermark in force (ms); -Infinity is written as null. */
  readonly watermark: number
  /** Highest event time seen per partition. */
  readonly partitions: Readonly<Record<string, number>>
}

/**
 * Tracks event time per input partition. The stream's watermark is the minimum over partitions of
 * (highest event time − delay). With an idle timeout, partitions quiet for that long (by the injected clock)
 * are left out, and when every partition is quiet the watermark follows the clock, so windows close even
 * when traffic stops. The watermark never moves backwards.
 */
export class WatermarkTracker {
  readonly #delayMs: number
  readonly #idleTimeoutMs: number | undefined
  readonly #maxEventTime = new Map<string, number>()
  /** Wall-clock time a partition last delivered a record; not persisted (idleness is about now). */
  readonly #lastActive = new Map<string, number>()
  #watermark = Number.NEGATIVE_INFINITY

  constructor(delayMs: number, idleTimeoutMs: number | undefined) {
    this.#delayMs = delayMs
    this.#idleTimeoutMs = idleTimeoutMs
  }

  get watermark(): number {
    return this.#watermark
  }

  restore(state: WatermarkState, now: number): void {
    this.#watermark = state.watermark
    this.#maxEventTime.clear()
    for (const [partition, t] of Object.entries(state.partitions)) {
      this.#maxEventTime.set(partition, t)
      this.#lastActive.set(partition, now)
    }
  }

  observe(partition: string, eventTime: number, now: number): void {
    const seen = this.#maxEventTime.get(partition)
    if (seen === undefined || eventTime > seen) this.#maxEventTime.set(partition, eventTime)
    this.#lastActive.set(partition, now)
  }

  /**
   * Time the pipeline spent busy with a batch (processing, writing, committing) is not time its partitions
   * were quiet: the source was not asked. Without this, a backlog read in batches that each take longer than
   * the idle timeout made every partition look idle, the watermark jump to the clock, and the rest of the
   * backlog late.
   */
  excludeBusyTime(ms: number): void {
    if (!(ms > 0)) return
    for (const [partition, last] of this.#lastActive) this.#lastActive.set(partition, last + ms)
  }

  /**
   * Computes the next watermark at `now` (monotonic) and returns it. `pending` names partitions that have
   * unread records but delivered none yet: they hold the watermark back (their event times are unknown), so
   * a batch that happens to start with one partition's backlog does not make the others' records late.
   */
  advance(now: number, pending?: ReadonlySet<string>): number {
    let candidate = Number.POSITIVE_INFINITY
    let active = 0
    if (pending) {
      for (const partition of pending) {
        if (this.#maxEventTime.has(partition)) continue
        if (!this.#lastActive.has(partition)) this.#lastActive.set(partition, now)
        const since = this.#lastActive.get(partition) ?? now
        if (this.#idleTimeoutMs !== undefined && now - since >= this.#idleTimeoutMs) continue
        return this.#watermark
      }
    }
    for (const [partition, t] of this.#maxEventTime) {
      const last = this.#lastActive.get(partition) ?? now
      if (this.#idleTimeoutMs !== undefined && now - last >= this.#idleTimeoutMs) continue
      active++
      candidate = Math.min(candidate, t - this.#delayMs)
    }
    if (active === 0) {
      candidate =
        this.#idleTimeoutMs !== undefined && this.#maxEventTime.size > 0
          ? now - this.#idleTimeoutMs - this.#delayMs
          : Number.NEGATIVE_INFINITY
    }
    if (candidate > this.#watermark) this.#watermark = candidate
    return this.#watermark
  }

  snapshot(): WatermarkState {
    return { watermark: this.#watermark, partitions: Object.fromEntries(this.#maxEventTime) }
  }
}
