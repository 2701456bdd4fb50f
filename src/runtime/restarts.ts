import { describeError, SluiceError } from '../errors.ts'
import { formatDuration } from '../window/duration.ts'
import type { Trigger } from './trigger.ts'

/**
 * How long a bounded run (availableNow, once, or a bounded source) keeps restarting before it gives up: two
 * minutes, the Java producer's delivery timeout that `sluice produce` also rides out an outage for. A batch job
 * that cannot reach its broker then fails where its scheduler sees it, instead of hanging, yet a broker
 * restart or a leader election (seconds to a minute) passes unnoticed.
 */
export const BOUNDED_RETRY_TIMEOUT_MS = 120_000

const FIRST_BACKOFF_MS = 500
const MAX_BACKOFF_MS = 30_000

export type RestartDecision =
  | { readonly restart: true; readonly waitMs: number; readonly attempt: number; readonly giveUpInMs: number }
  | { readonly restart: false; readonly failingForMs: number; readonly limitMs: number }

/**
 * The backoff between restarts of a failing run (0.5 s doubling to 30 s) and when to stop: once the failures
 * have lasted the retry timeout, counted from the first failure after the last batch that committed. A batch
 * committed in between starts the count and the backoff afresh.
 */
export class Restarts {
  readonly #timeoutMs: number | undefined
  readonly #now: () => number
  #backoffMs = FIRST_BACKOFF_MS
  #failingSince: number | undefined
  #attempts = 0

  /** `timeoutMs`: the retry timeout; undefined for the default by boundedness (see `limit`). */
  constructor(timeoutMs: number | undefined, now: () => number = () => performance.now()) {
    this.#timeoutMs = timeoutMs
    this.#now = now
  }

  /** The retry timeout in force: the one given, else BOUNDED_RETRY_TIMEOUT_MS for a bounded run, for ever otherwise. */
  limit(bounded: boolean): number {
    return this.#timeoutMs ?? (bounded ? BOUNDED_RETRY_TIMEOUT_MS : Number.POSITIVE_INFINITY)
  }

  /** After a failed attempt: restart after `waitMs`, or give up (the next attempt would start past the limit). */
  next(progressed: boolean, bounded: boolean): RestartDecision {
    const now = this.#now()
    if (progressed) {
      this.#failingSince = undefined
      this.#backoffMs = FIRST_BACKOFF_MS
      this.#attempts = 0
    }
    this.#failingSince ??= now
    const failingForMs = now - this.#failingSince
    const limitMs = this.limit(bounded)
    const waitMs = this.#backoffMs
    if (failingForMs + waitMs > limitMs) return { restart: false, failingForMs, limitMs }
    this.#backoffMs = Math.min(this.#backoffMs * 2, MAX_BACKOFF_MS)
    this.#attempts++
    return { restart: true, waitMs, attempt: this.#attempts, giveUpInMs: limitMs - failingForMs }
  }
}

export function boundedTrigger(trigger: Trigger): boolean {
  return trigger.kind === 'availableNow' || trigger.kind === 'once'
}

/**
 * The one warning line of a restart: the cause and the wait, e.g. "Kafka at 127.0.0.1:1 did not answer: …;
 * restarting from the checkpoint in 2s (restart 3; giving up in 1m54s)".
 */
export function restartMessage(error: unknown, decision: RestartDecision & { restart: true }): string {
  const limit = Number.isFinite(decision.giveUpInMs)
    ? `giving up in ${seconds(decision.giveUpInMs)}`
    : 'retrying until stopped'
  return `${describeError(error)}; restarting from the checkpoint in ${formatDuration(decision.waitMs)} (restart ${decision.attempt}; ${limit})`
}

/** The run gave up: the last failure, how long failures lasted and the limit, as one error. */
export function gaveUp(
  pipelineId: string,
  error: unknown,
  decision: RestartDecision & { restart: false },
): SluiceError {
  return new SluiceError(
    'SLUICE_RETRY_TIMEOUT',
    `Pipeline ${pipelineId} gave up after failing for ${seconds(decision.failingForMs)} (retry timeout ${formatDuration(decision.limitMs)}): ${describeError(error)}`,
    { domain: 'external', cause: error },
  )
}

/** A time in whole seconds as formatDuration writes it ("1m54s"); "0s" below half a second. */
function seconds(ms: number): string {
  const rounded = Math.round(ms / 1000) * 1000
  return rounded === 0 ? '0s' : formatDuration(rounded)
}
