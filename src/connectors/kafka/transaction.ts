import type { Message, Producer } from '@platformatic/kafka'
import { describeError, KafkaError } from '../../errors.ts'
import type { KafkaConsumer } from './consumer.ts'
import { toMessage } from './producer.ts'
import { rawConsumer } from './raw.ts'
import type { ConsumedRecord, OutgoingRecord } from './records.ts'
import { chunkBySize, partitionKey, tooLargeHint } from './records.ts'
import { commitOffsetsInOneRequest } from './txn-offset-commit.ts'

/** The client's transaction class is not exported by name; take it from the producer's signature. */
type Transaction = Awaited<ReturnType<Producer['beginTransaction']>>

/**
 * One Kafka transaction: records and consumer offsets that become visible together or not at all.
 *
 * Every call is queued behind the previous one. The client de-duplicates concurrent transactional requests
 * under fixed keys (all but the first addOffset of a burst resolve without being sent), so parallel calls
 * would commit the transaction with offsets missing: exactly-once broken without an error.
 */
export class KafkaTransaction {
  readonly #tx: Transaction
  readonly #producer: Producer
  #queue: Promise<unknown> = Promise.resolve()

  constructor(tx: Transaction, producer: Producer) {
    this.#tx = tx
    this.#producer = producer
  }

  get completed(): boolean {
    return this.#tx.completed
  }

  send(records: readonly OutgoingRecord[]): Promise<void> {
    if (records.length === 0) return Promise.resolve()
    return this.#serial('send', async () => {
      // One request per chunk, in order: a whole micro-batch in one request can exceed message.max.bytes.
      for (const chunk of chunkBySize(records.map(toMessage))) await this.#tx.send({ messages: chunk })
    })
  }

  /**
   * Commits, inside this transaction, the consumer group position just after the last of `records` on each
   * partition. The records must come from `consumer`: they carry the group generation the broker fences on.
   * All partitions go in one TxnOffsetCommit request (txn-offset-commit.ts), not one request each, with
   * `metadata` stored beside each offset (OffsetFetch returns it).
   */
  commitOffsets(
    consumer: KafkaConsumer,
    records: Iterable<ConsumedRecord>,
    metadata: string | null = null,
  ): Promise<void> {
    const last = new Map<string, ConsumedRecord>()
    for (const record of records) {
      const key = partitionKey(record.topic, record.partition)
      const seen = last.get(key)
      if (!seen || seen.offset < record.offset) last.set(key, record)
    }
    if (last.size === 0) return Promise.resolve()
    return this.#serial('commit offsets', async () => {
      await this.#tx.addConsumer(rawConsumer(consumer))
      if (this.#tx.completed) throw new Error('the transaction is already completed')
      const records = [...last.values()] as Message[]
      await commitOffsetsInOneRequest(this.#producer, this.#tx.id, records, metadata, (fetched, partitions) =>
        consumer.commitGeneration(fetched, partitions),
      )
    })
  }

  commit(): Promise<void> {
    return this.#serial('commit', () => this.#tx.commit())
  }

  abort(): Promise<void> {
    return this.#serial('abort', async () => {
      if (this.#tx.completed) return
      await this.#tx.abort().catch(() => this.#tx.cancel())
    })
  }

  /** Forgets a transaction that sent nothing, without a request (the coordinator never knew of it). */
  discard(): Promise<void> {
    return this.#serial('discard', () => this.#tx.cancel())
  }

  #serial(what: string, operation: () => Promise<void>): Promise<void> {
    const next = this.#queue.then(operation).catch((error: unknown) => {
      const description = describeError(error)
      const tooLarge = tooLargeHint(description)
      throw new KafkaError(`Kafka transaction ${what} failed: ${description}${tooLarge ?? ''}`, {
        cause: error,
        ...(tooLarge ? { retryable: false } : {}),
      })
    })
    // Keep the chain alive after a failure so later calls (abort) still run in order.
    this.#queue = next.catch(() => {})
    return next
  }
}
