/** What the offsets log records per batch about event time, so replays and restarts agree. */
export interface WatermarkState {
  /** The watermark in force (ms); -Infinity is written as null. */
  readonly watermark: number
  /** Highest event time seen per partition. */
  readonly partitions: Readonly<Record<string, number>>
}

/**
 * Tracks event time per input partition. The stream's watermark is the minimum over partitions of
 * (highest event time − delay), and it never moves backwards.
 *
 * Idleness means "caught up and quiet": with an idle timeout, a partition that has delivered nothing for
 * that long (by the injected clock) is left out of the minimum, unless its source says it still has unread
 * records (`unread`): a backlog read slowly is behind, not idle, and letting the clock past it would make
 * it late. When every partition is caught up and quiet the watermark follows the clock, so windows close
 * when traffic stops.
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
   * The partitions that would count as idle at `now` (quiet for the idle timeout), among those seen and the
   * `pending` ones: the runtime asks the source which of them still have unread records before advance().
   * Empty without an idle timeout, so a source is asked nothing on the common path.
   */
  idleCandidates(now: number, pending?: ReadonlySet<string>): string[] {
    const timeout = this.#idleTimeoutMs
    if (timeout === undefined) return []
    const candidates: string[] = []
    for (const [partition, last] of this.#lastActive) if (now - last >= timeout) candidates.push(partition)
    if (pending) {
      for (const partition of pending) {
        if (this.#lastActive.has(partition)) continue
        // A pending partition's quiet time starts when it is first seen pending.
        this.#lastActive.set(partition, now)
        if (timeout <= 0) candidates.push(partition)
      }
    }
    return candidates
  }

  /**
   * Computes the next watermark at `now` (monotonic) and returns it. `pending` names partitions that have
   * unread records but delivered none yet: they hold the watermark back (their event times are unknown), so
   * a batch that happens to start with one partition's backlog does not make the others' records late.
   * `unread` names partitions the source still has records for: never idle, whatever the clock says.
   */
  advance(now: number, pending?: ReadonlySet<string>, unread?: ReadonlySet<string>): number {
    let candidate = Number.POSITIVE_INFINITY
    let active = 0
    if (pending) {
      for (const partition of pending) {
        if (this.#maxEventTime.has(partition)) continue
        if (!this.#lastActive.has(partition)) this.#lastActive.set(partition, now)
        if (this.#isIdle(partition, now, unread)) continue
        return this.#watermark
      }
    }
    for (const [partition, t] of this.#maxEventTime) {
      if (this.#isIdle(partition, now, unread)) continue
      active++
      candidate = Math.min(candidate, t - this.#delayMs)
    }
    if (active === 0) {
      candidate =
        this.#idleTimeoutMs !== undefined && this.#maxEventTime.size > 0
          ? now - this.#idleTimeoutMs - this.#delayMs
          : Number.NEGATIVE_INFINITY
    }
    return this.#raise(candidate)
  }

  /**
   * The input ended (a bounded source read to its end): no record can come that is earlier than anything,
   * so the watermark goes to +Infinity and every open window and session closes, as at the end of a
   * bounded input in Flink.
   */
  endOfInput(): number {
    return this.#raise(Number.POSITIVE_INFINITY)
  }

  snapshot(): WatermarkState {
    return { watermark: this.#watermark, partitions: Object.fromEntries(this.#maxEventTime) }
  }

  #isIdle(partition: string, now: number, unread: ReadonlySet<string> | undefined): boolean {
    if (this.#idleTimeoutMs === undefined || unread?.has(partition)) return false
    const last = this.#lastActive.get(partition) ?? now
    return now - last >= this.#idleTimeoutMs
  }

  #raise(candidate: number): number {
    if (candidate > this.#watermark) this.#watermark = candidate
    return this.#watermark
  }
}
