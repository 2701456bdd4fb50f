import type { Writable } from 'node:stream'
import { finished } from 'node:stream/promises'
import { type GeneratedRecord, INJECTED_HEADER } from '../clickstream/generator.ts'
import { KafkaProducer, type KafkaProducerOptions } from '../connectors/kafka/producer.ts'
import type { OutgoingRecord } from '../connectors/kafka/records.ts'

/** Where produced records go. `write` may return before the records are delivered; `flush` waits for all. */
export interface RecordSink {
  /** Hands a batch over; resolves once another batch may be handed over. */
  write(batch: readonly GeneratedRecord[]): Promise<void>
  /** Waits for every batch handed over to be delivered or to fail. */
  flush(): Promise<void>
  close(): Promise<void>
  /** The first delivery failure, once there is one: no more batches should be written. */
  readonly failure: unknown
  /** True when the destination went away without an error worth reporting (a closed pipe). */
  readonly closed: boolean
}

export type DeliveryListener = (batch: readonly GeneratedRecord[]) => void

/** Idempotent Kafka producer with a bounded number of batches in flight; `onDelivered` runs on acknowledgement. */
export class KafkaSink implements RecordSink {
  readonly #producer: KafkaProducer
  readonly #topic: string
  readonly #maxInFlight: number
  readonly #onDelivered: DeliveryListener
  readonly #onFailed: DeliveryListener
  readonly #inFlight = new Set<Promise<void>>()
  #failure: unknown

  constructor(
    options: KafkaProducerOptions & { topic: string; maxInFlight: number },
    onDelivered: DeliveryListener,
    onFailed: DeliveryListener,
  ) {
    const { topic, maxInFlight, ...producerOptions } = options
    this.#producer = new KafkaProducer({ clientId: 'sluice-produce', ...producerOptions })
    this.#topic = topic
    this.#maxInFlight = maxInFlight
    this.#onDelivered = onDelivered
    this.#onFailed = onFailed
  }

  get failure(): unknown {
    return this.#failure
  }

  get closed(): boolean {
    return false
  }

  async write(batch: readonly GeneratedRecord[]): Promise<void> {
    while (this.#inFlight.size >= this.#maxInFlight) await Promise.race(this.#inFlight)
    if (this.#failure !== undefined || batch.length === 0) return
    const records = batch.map((r) => this.#outgoing(r))
    const sending: Promise<void> = this.#producer.send(records).then(
      () => this.#onDelivered(batch),
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

  #outgoing(record: GeneratedRecord): OutgoingRecord {
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

  async write(batch: readonly GeneratedRecord[]): Promise<void> {
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
