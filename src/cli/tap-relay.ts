import type { TapKey, TapRecord, Taps } from '../runtime/tap.ts'
import type { SupervisorMessage } from './workers.ts'

/**
 * The supervisor's side of the live tap under `sluice run --workers N --ui`: the dashboard's taps are opened
 * in the workers, where the operators run, and their samples merged back into the dashboard's tap, each
 * labelled with its worker. A worker samples a share of the tap's rate (perSecond / N): re-sampling the
 * workers' full rates here would let whichever worker reports first each second take the whole allowance, so
 * the others would rarely show. The merge still keeps the tap's bound overall (shares below one record a
 * second round up to one in the workers' token buckets).
 */
export class TapRelay {
  readonly #taps: Taps
  readonly #share: number
  /** Workers listening for taps, by name: each gets the opens and closes from now on. */
  readonly #workers = new Map<string, (message: SupervisorMessage) => void>()
  readonly #unobserve: () => void

  constructor(taps: Taps, workers: number) {
    this.#taps = taps
    this.#share = taps.limits.perSecond / workers
    this.#unobserve = taps.observe({
      opened: (tap) => this.#broadcast(this.#openMessage(tap)),
      closed: (tap) => this.#broadcast({ kind: 'tap-close', tap }),
    })
  }

  /** A worker (a new one, or a restarted one) listens for taps: it opens those open now. */
  attach(worker: string, send: (message: SupervisorMessage) => void): void {
    this.#workers.set(worker, send)
    for (const tap of this.#taps.opened) send(this.#openMessage(tap))
  }

  /** A worker ended: its taps ended with it. */
  detach(worker: string): void {
    this.#workers.delete(worker)
  }

  /** A worker's sample of one batch. */
  records(worker: string, tap: TapKey, records: readonly TapRecord[]): void {
    this.#taps.merge(
      tap,
      records.map((r) => ({ ...r, instance: worker })),
      Date.now(),
    )
  }

  close(): void {
    this.#unobserve()
    this.#workers.clear()
  }

  #openMessage(tap: TapKey): SupervisorMessage {
    return { kind: 'tap-open', tap, perSecond: this.#share }
  }

  #broadcast(message: SupervisorMessage): void {
    for (const send of this.#workers.values()) send(message)
  }
}
