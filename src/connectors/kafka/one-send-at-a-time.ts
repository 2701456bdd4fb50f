/**
 * Hands an idempotent producer's sends to the client one at a time: each starts once the one before it is
 * acknowledged or has failed.
 *
 * The client (@platformatic/kafka 2.12.1) starts every send at once and retries each on its own timer. When a
 * partition leader dies, a send started after the failure reaches the new leader before an earlier batch's
 * retry does; the broker answers OUT_OF_ORDER_SEQUENCE_NUMBER for the gap. The client takes that for lost
 * producer state: it takes a new producer id and sends that request again whole, including the batches of the
 * request's other partitions that the broker had just written (Producer#recoverIdempotentProducer). Those are
 * then in the log twice, under two producer ids the broker cannot match (seen: 284 records twice of 15,000,
 * test/producer/produce-outage.chaos.ts). With one send at a time, each partition has at most one batch
 * unacknowledged, so a retry always carries the next sequence the broker expects and is written once.
 */
export class OneSendAtATime {
  #last: Promise<unknown> = Promise.resolve()

  /** Runs `send` after every send handed over before it has settled. */
  run<T>(send: () => Promise<T>): Promise<T> {
    const result = this.#last.then(send)
    this.#last = result.catch(() => {})
    return result
  }
}
