import type { Writable } from 'node:stream'
import { finished } from 'node:stream/promises'
import { INJECTED_HEADER, type Injection } from '../clickstream/generator.ts'
import { KafkaProducer, type KafkaProducerOptions } from '../connectors/kafka/producer.ts'
import type { OutgoingRecord } from '../connectors/kafka/records.ts'
import type { OutageEvent } from './produce.ts'

/** A record to produce: a generated event (keyed by user id, maybe injected) or a line of a file. */
export interface ProducedRecord {
  readonly key: string | Buffer | undefined
  readonly value: Buffer
  readonly injected?: Injection | undefined
}

/** Where produced records go. `write` may return before the records are delivered; `flush` waits for all. */
export interface RecordSink {
  /** Hands a batch over; resolves once another batch may be handed over. */
  write(batch: readonly ProducedRecord[]): Promise<void>
  /** Waits for every batch handed over to be delivered or to fail. */
  flush(): Promise<void>
  close(): Promise<void>
  /** The first delivery failure, once there is one: no more batches should be written. */
  readonly failure: unknown
  /** True when the destination went away without an error worth reporting (a closed pipe). */
  readonly closed: boolean
}

export type DeliveryListener = (batch: readonly ProducedRecord[]) => void

/**
 * Idempotent Kafka producer with a bounded number of batches in flight; `onDelivered` runs on acknowledgement.
 * Through an outage the producer retries each batch (same sequence numbers, so no duplicates) for up to the
 * delivery timeout; `onOutage` hears when retrying starts and when Kafka acknowledges again.
 */
export class KafkaSink implements RecordSink {
  readonly #producer: KafkaProducer
  readonly #topic: string
  readonly #maxInFlight: number
  readonly #onDelivered: DeliveryListener
  readonly #onFailed: DeliveryListener
  readonly #onOutage: ((event: OutageEvent) => void) | undefined
  readonly #deliveryTimeoutMs: number
  readonly #inFlight = new Set<Promise<void>>()
  #failure: unknown
  /** When the current outage began (the first retry since the last acknowledgement), and whether it was told. */
  #retryingSince: number | undefined
  #announced = false

  constructor(
    options: KafkaProducerOptions & {
      topic: string
      maxInFlight: number
      deliveryTimeoutMs: number
      onOutage?: (event: OutageEvent) => void
    },
    onDelivered: DeliveryListener,
    onFailed: DeliveryListener,
  ) {
    const { topic, maxInFlight, onOutage, ...producerOptions } = options
    this.#producer = new KafkaProducer({
      clientId: 'sluice-produce',
      ...producerOptions,
      onRetry: ({ error }) => {
        const now = performance.now()
        this.#retryingSince ??= now
        // A retry or two is routine (a coordinator still loading, a leader moving): an outage is a second of them.
        if (this.#announced || this.#failure !== undefined || now - this.#retryingSince < 1000) return
        this.#announced = true
        this.#onOutage?.({ kind: 'retrying', error, deliveryTimeoutMs: this.#deliveryTimeoutMs })
      },
    })
    this.#topic = topic
    this.#maxInFlight = maxInFlight
    this.#onDelivered = onDelivered
    this.#onFailed = onFailed
    this.#onOutage = onOutage
    this.#deliveryTimeoutMs = options.deliveryTimeoutMs
  }

  get failure(): unknown {
    return this.#failure
  }

  get closed(): boolean {
    return false
  }

  async write(batch: readonly ProducedRecord[]): Promise<void> {
    while (this.#inFlight.size >= this.#maxInFlight) await Promise.race(this.#inFlight)
    if (this.#failure !== undefined || batch.length === 0) return
    const records = batch.map((r) => this.#outgoing(r))
    const sending: Promise<void> = this.#producer.send(records).then(
      () => {
        if (this.#retryingSince !== undefined) {
          const afterMs = performance.now() - this.#retryingSince
          this.#retryingSince = undefined
          if (this.#announced) this.#onOutage?.({ kind: 'recovered', afterMs })
          this.#announced = false
        }
        this.#onDelivered(batch)
      },
      (error: unknown) => {
        this.#failure ??= error
        this.#onFailed(batch)
      },
    )
    const tracked = sending.finally(() => this.#inFlight.delete(tracked))
    this.#inFlight.add(tracked)
  }

  async flush(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight)
  }

  async close(): Promise<void> {
    await this.flush()
    await this.#producer.close()
  }

  #outgoing(record: ProducedRecord): OutgoingRecord {
    return record.injected === undefined
      ? { topic: this.#topic, key: record.key, value: record.value }
      : {
          topic: this.#topic,
          key: record.key,
          value: record.value,
          headers: { [INJECTED_HEADER]: record.injected },
        }
  }
}

const NEWLINE = Buffer.from('\n')

/**
 * One line per record, the record's value bytes as they would be sent to Kafka (malformed ones included, so a
 * line may be broken JSON or invalid UTF-8). A record counts as delivered once the stream accepted it.
 */
export class StreamSink implements RecordSink {
  readonly #stream: Writable
  readonly #end: boolean
  readonly #onDelivered: DeliveryListener
  #failure: unknown
  #closed = false

  /** `end`: end the stream on close (a file), rather than leaving it open (stdout). */
  constructor(stream: Writable, end: boolean, onDelivered: DeliveryListener) {
    this.#stream = stream
    this.#end = end
    this.#onDelivered = onDelivered
    stream.on('error', (error: NodeJS.ErrnoException) => {
      // The reader of a pipe went away (`| head`): stop quietly, like other command-line tools.
      if (error.code === 'EPIPE') this.#closed = true
      else this.#failure ??= error
    })
  }

  get failure(): unknown {
    return this.#failure
  }

  get closed(): boolean {
    return this.#closed
  }

  async write(batch: readonly ProducedRecord[]): Promise<void> {
    if (this.#failure !== undefined || this.#closed || batch.length === 0) return
    const parts: Buffer[] = []
    for (const record of batch) parts.push(record.value, NEWLINE)
    const ready = this.#stream.write(Buffer.concat(parts))
    this.#onDelivered(batch)
    if (!ready) await this.#drained()
  }

  async flush(): Promise<void> {
    if (this.#stream.writableNeedDrain && !this.#closed && this.#failure === undefined) await this.#drained()
  }

  async close(): Promise<void> {
    if (!this.#end) return this.flush()
    this.#stream.end()
    await finished(this.#stream).catch((error: unknown) => {
      this.#failure ??= error
    })
  }

  #drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.#stream.off('drain', done)
        this.#stream.off('error', done)
        this.#stream.off('close', done)
        resolve()
      }
      this.#stream.on('drain', done)
      this.#stream.on('error', done)
      this.#stream.on('close', done)
    })
  }
}
