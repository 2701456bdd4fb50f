import { describeError, KafkaError } from '../errors.ts'
import { formatDuration } from '../window/duration.ts'

/**
 * What the main job says about a broker it cannot reach: one line as soon as the producer or a pipeline finds
 * it gone (with how long the job keeps retrying), one when it answers again, and the error it stops with once
 * the retry budget is spent. The producer and four pipelines each notice the outage: it is said once.
 */
export class OutageNotice {
  readonly #brokers: string
  readonly #budgetMs: number
  readonly #say: (line: string) => void
  #since: number | undefined

  constructor(brokers: string, budgetMs: number, say: (line: string) => void) {
    this.#brokers = brokers
    this.#budgetMs = budgetMs
    this.#say = say
  }

  get active(): boolean {
    return this.#since !== undefined
  }

  lost(error: unknown): void {
    if (this.#since !== undefined) return
    this.#since = performance.now()
    this.#say(
      `Kafka at ${this.#brokers} is unreachable (${describeError(error)}); retrying for up to ${formatDuration(this.#budgetMs)} (--retry-timeout), then stopping with a summary. Ctrl-C stops now.`,
    )
  }

  back(): void {
    if (this.#since === undefined) return
    this.#say(
      `Kafka at ${this.#brokers} answers again after ${((performance.now() - this.#since) / 1000).toFixed(1)} s.`,
    )
    this.#since = undefined
  }

  /** The error the job stops with when the outage outlasted the budget; `cause` is what gave up first. */
  gaveUp(cause: unknown): KafkaError {
    return new KafkaError(
      `Kafka at ${this.#brokers} stayed unreachable longer than the retry budget (${formatDuration(this.#budgetMs)}, --retry-timeout)`,
      { cause, retryable: false },
    )
  }
}
