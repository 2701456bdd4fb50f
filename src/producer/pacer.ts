import { setTimeout as sleep } from 'node:timers/promises'

/**
 * Paces batches to an average rate: batch n may start once the records before it are due. A backlog (the
 * sink was slower than the rate) is caught up by at most one second's worth of records, never in a burst of
 * everything that was missed.
 */
export class Pacer {
  readonly #rate: number
  #origin: number
  #paced = 0

  /** `rate` in records per second; 0 means as fast as possible. */
  constructor(rate: number, now = performance.now()) {
    this.#rate = rate
    this.#origin = now
  }

  get unlimited(): boolean {
    return this.#rate <= 0
  }

  /** Records per batch: at most `max`, and about a tenth of a second's worth when a rate is set. */
  batchSize(max: number): number {
    return this.unlimited ? max : Math.max(1, Math.min(max, Math.round(this.#rate / 10)))
  }

  /** When the next batch is due (performance.now() time); now when unlimited. */
  nextDue(now = performance.now()): number {
    return this.unlimited ? now : this.#origin + (this.#paced * 1000) / this.#rate
  }

  /** Milliseconds to wait before sending the next batch (0 when it is due). */
  delayFor(now = performance.now()): number {
    if (this.unlimited) return 0
    const due = this.#origin + (this.#paced * 1000) / this.#rate
    if (due - now < -1000) {
      // More than a second behind: forget the excess so catching up is no burst.
      this.#origin += now - due - 1000
      return 0
    }
    return Math.max(0, due - now)
  }

  /** Records that `count` more records were sent. */
  sent(count: number): void {
    this.#paced += count
  }

  /** Waits until the next batch is due, or until `signal` aborts or `deadline` (performance.now() time) passes. */
  async wait(signal?: AbortSignal, deadline = Number.POSITIVE_INFINITY): Promise<void> {
    const now = performance.now()
    const delay = Math.min(this.delayFor(now), deadline - now)
    if (delay <= 0 || signal?.aborted) return
    await sleep(delay, undefined, signal ? { signal } : {}).catch(() => {})
  }
}
