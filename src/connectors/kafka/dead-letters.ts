import { UsageError } from '../../errors.ts'
import type {
  CommittedPosition,
  DeadLetter,
  OutputBatch,
  SinkCommitContext,
  SinkContract,
  SinkOpenContext,
  SinkSpec,
  SinkWriter,
} from '../../runtime/sink.ts'
import type { Positions } from '../../runtime/source.ts'
import { KafkaAdmin } from './admin.ts'
import type { KafkaConnection } from './connection.ts'
import { DEFAULT_MAX_MESSAGE_BYTES, deadLetterRecord } from './dead-letter-record.ts'
import { KafkaProducer } from './producer.ts'

export interface KafkaDeadLettersOptions extends KafkaConnection {
  /** The dead-letter topic, e.g. `events.dlq`. */
  readonly topic: string
  /** Create the topic with this many partitions when it is missing (default: fail when missing). */
  readonly createPartitions?: number
}

/**
 * Sends a sink's dead letters to a Kafka topic, for sinks that do not keep them themselves (the lake, the
 * warehouses): `.to(withKafkaDeadLetters(lake({ … }), { topic: 'events.dlq' }))`.
 *
 * The dead letters of a batch are acknowledged by the brokers (idempotent producer, acks=all) before the
 * inner sink commits the batch, so a dead letter is never lost. A crash between the two replays the batch
 * and sends its dead letters again: at-least-once, with the `sluice-dlq-source` header (source partition and
 * offset) as the key to drop repeats by. The rows keep the inner sink's guarantee.
 */
export function withKafkaDeadLetters<T>(sink: SinkSpec<T>, options: KafkaDeadLettersOptions): SinkSpec<T> {
  if (!options.topic) throw new UsageError('withKafkaDeadLetters(): a topic is required.')
  return {
    type: sink.type,
    options: { ...sink.options, deadLetterTopic: options.topic },
    // The rows, and so the scaling, are the inner sink's; dead letters stay at-least-once with any number of
    // instances (a fenced instance may have sent its batch's dead letters before its commit failed).
    ...(sink.scalesOut ? { scalesOut: sink.scalesOut } : {}),
    ...(sink.singleInstance !== undefined ? { singleInstance: sink.singleInstance } : {}),
    create: () => new DeadLetterTee(sink.create(), options),
  }
}

class DeadLetterTee<T> implements SinkWriter<T> {
  readonly #inner: SinkWriter<T>
  readonly #options: KafkaDeadLettersOptions
  #producer: KafkaProducer | undefined
  /** The topic's max.message.bytes: a bigger dead letter is cut to fit. */
  #maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES

  constructor(inner: SinkWriter<T>, options: KafkaDeadLettersOptions) {
    this.#inner = inner
    this.#options = options
  }

  get description(): string {
    return `${this.#inner.description} (dead letters to kafka ${this.#options.topic})`
  }

  /** The inner sink's contract for the rows; the dead letters are this wrapper's. */
  async open(context: SinkOpenContext): Promise<SinkContract> {
    const admin = new KafkaAdmin(this.#options)
    try {
      await admin.ensureTopic(this.#options.topic, {
        create: this.#options.createPartitions !== undefined,
        partitions: this.#options.createPartitions ?? 1,
      })
      this.#maxMessageBytes = (await admin.maxMessageBytes(this.#options.topic)) ?? DEFAULT_MAX_MESSAGE_BYTES
    } finally {
      await admin.close()
    }
    this.#producer = new KafkaProducer({
      ...this.#options,
      clientId: this.#options.clientId ?? `sluice-${context.pipelineId}-dead-letters`,
    })
    return { ...(await this.#inner.open(context)), storesDeadLetters: true }
  }

  write(batch: OutputBatch<T>): Promise<void> {
    return this.#inner.write(batch)
  }

  async commit(batch: OutputBatch<T>, context: SinkCommitContext): Promise<void> {
    // The pipeline's dead letters, and the rows the inner sink could not take (it wrote the batch already).
    const refused = this.#inner.rejected?.(batch) ?? []
    const letters = refused.length > 0 ? [...batch.deadLetters, ...refused] : batch.deadLetters
    if (letters.length > 0) {
      await this.#producer!.send(
        letters.map((letter) => deadLetterRecord(this.#options.topic, letter, this.#maxMessageBytes)),
      )
    }
    await this.#inner.commit(batch, context)
  }

  rejected(batch: OutputBatch<T>): readonly DeadLetter[] {
    return this.#inner.rejected?.(batch) ?? []
  }

  async abort(batch: OutputBatch<T>): Promise<void> {
    await this.#inner.abort?.(batch)
  }

  async hasCommitted(batch: { readonly batchId: number; readonly end: Positions }): Promise<boolean> {
    return (await this.#inner.hasCommitted?.(batch)) ?? false
  }

  async committedPosition(): Promise<CommittedPosition | undefined> {
    return await this.#inner.committedPosition?.()
  }

  async close(): Promise<void> {
    try {
      await this.#inner.close()
    } finally {
      await this.#producer?.close()
    }
  }
}
