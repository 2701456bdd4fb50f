import {
  findErrorBy,
  type MessageToProduce,
  ProduceAcks,
  type ProduceResult,
  Producer,
} from '@platformatic/kafka'
import { describeError, KafkaError } from '../../errors.ts'
import { formatDuration } from '../../window/duration.ts'
import { useClientAddPartitionsToTxn } from './client-add-partitions.ts'
import { baseClientOptions, type KafkaConnection } from './connection.ts'
import { murmur2Partitioner } from './murmur2.ts'
import { OneSendAtATime } from './one-send-at-a-time.ts'
import { type Compression, chunkBySize, type OutgoingRecord, toBuffer, tooLargeHint } from './records.ts'
import { KafkaTransaction } from './transaction.ts'

export interface KafkaProducerOptions extends KafkaConnection {
  /** Idempotent delivery (acks=all, de-duplicated retries). Default true. */
  readonly idempotent?: boolean
  /** Makes the producer transactional; implies idempotent. Stable across restarts of the same task. */
  readonly transactionalId?: string
  readonly compression?: Compression
  /**
   * Ride out an outage: retry a send for up to this many milliseconds (like the Java producer's
   * `delivery.timeout.ms`) instead of 10 times 250 ms apart. A send that is not acknowledged by then fails with
   * a KafkaError naming the timeout and the last error, and the producer fails with it: it is closed, so its
   * other pending sends fail at once and later ones throw the same error. Retries keep each batch's
   * sequence numbers, so an idempotent producer writes a batch once however often it is retried.
   */
  readonly deliveryTimeoutMs?: number
  /** Called before each retry of a request, with the error that made it fail and the wait before the next try. */
  readonly onRetry?: (retry: ProducerRetry) => void
}

export interface ProducerRetry {
  /** The client's name for the request: "produce", "metadata", "initProducerId", … */
  readonly operation: string
  /** 1 for the first retry of a request. */
  readonly attempt: number
  readonly error: unknown
  readonly delayMs: number
}

/**
 * A producer of raw bytes. Keys are partitioned with Kafka's Java-compatible murmur2, so records with the
 * same key land where a Java producer would put them.
 */
export class KafkaProducer {
  readonly #producer: Producer
  readonly #compression: Compression
  readonly #deliveryTimeoutMs: number | undefined
  /** Idempotent sends queue here: concurrent ones can be written twice through a leader change. */
  readonly #sends: OneSendAtATime | undefined
  #transaction: KafkaTransaction | undefined
  /** Set once a send outlived the delivery timeout: the producer is closed and every send throws this. */
  #expired: KafkaError | undefined
  #lastRetryError: unknown
  #closing: Promise<void> | undefined

  constructor(options: KafkaProducerOptions = {}) {
    this.#compression = options.compression ?? 'lz4'
    this.#deliveryTimeoutMs = options.deliveryTimeoutMs
    const idempotent = options.idempotent ?? true
    this.#sends = idempotent || options.transactionalId !== undefined ? new OneSendAtATime() : undefined
    const outage = options.deliveryTimeoutMs !== undefined
    const onRetry = options.onRetry
    this.#producer = new Producer({
      ...baseClientOptions(options, 'producer'),
      idempotent: idempotent || options.transactionalId !== undefined,
      ...(options.transactionalId ? { transactionalId: options.transactionalId } : {}),
      acks: ProduceAcks.ALL,
      // InitProducerId must say "no producer yet" (-1/-1). The client (2.12.1) otherwise sends 0/0, which the
      // coordinator reads as "I am producer 0": a restarted process whose transactional id belongs to another
      // producer id is then fenced for good (PRODUCER_FENCED) instead of taking over and aborting the
      // crashed process's transaction. See test/engine/kafka-runtime.test.ts (SIGKILL test).
      producerId: -1n,
      producerEpoch: -1,
      partitioner: murmur2Partitioner,
      // The client sends `timeout` as the transaction timeout (and as the brokers' wait for acks). Its 5 s
      // default had the coordinator abort a transaction whose batch took longer to write, a big batch to a slow
      // cluster: every replay of it would fail the same way. 30 s, like the request timeout; a run restarted
      // after a crash does not wait for it (KafkaProducer.takeOver aborts the old transaction at once).
      ...(options.transactionalId ? { timeout: 30_000 } : {}),
      // With a delivery timeout the client retries without a count limit; send() enforces the time limit.
      retries: outage ? true : 10,
      retryDelay: (client: unknown, operation: string, attempt: number, retries: number, error: Error) => {
        const delayMs = outage
          ? outageRetryDelay(attempt, error)
          : producerRetryDelay(client, operation, attempt, retries, error)
        this.#lastRetryError = error
        onRetry?.({ operation, attempt, error, delayMs })
        return delayMs
      },
      ...(this.#compression !== 'none' ? { compression: this.#compression } : {}),
    })
    useClientAddPartitionsToTxn(this.#producer)
  }

  /**
   * Sends records in one request per partition leader; resolves once every record is acknowledged. With a
   * delivery timeout, rejects once it passes (see KafkaProducerOptions.deliveryTimeoutMs). An idempotent
   * producer's sends go to Kafka one at a time, in call order (see OneSendAtATime): a call made while another
   * is under way waits for it, and its delivery timeout counts from the call, as Java's delivery.timeout.ms.
   */
  async send(records: readonly OutgoingRecord[]): Promise<ProduceResult> {
    if (this.#expired) throw this.#expired
    if (records.length === 0) return {}
    const timeoutMs = this.#deliveryTimeoutMs
    const send = () => this.#send(records)
    const sending = this.#sends ? this.#sends.run(send) : send()
    if (timeoutMs === undefined) return sending
    sending.catch(() => {}) // raced below; a rejection after the timeout is not unhandled
    let timer: NodeJS.Timeout | undefined
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(this.#expire(timeoutMs)), timeoutMs)
    })
    try {
      return await Promise.race([sending, expired])
    } finally {
      clearTimeout(timer)
    }
  }

  /** A send outlived the delivery timeout: fail the producer, and close the client to end its retries. */
  #expire(timeoutMs: number): KafkaError {
    if (!this.#expired) {
      const last = this.#lastRetryError === undefined ? 'no answer' : describeError(this.#lastRetryError)
      this.#expired = new KafkaError(
        `Kafka did not acknowledge records within the delivery timeout (${formatDuration(timeoutMs)}); the last error: ${last}`,
        { retryable: false, cause: this.#lastRetryError },
      )
      void this.close().catch(() => {})
    }
    return this.#expired
  }

  async #send(records: readonly OutgoingRecord[]): Promise<ProduceResult> {
    if (this.#expired) throw this.#expired
    try {
      const chunks = chunkBySize(records.map(toMessage))
      if (chunks.length === 1) return await this.#producer.send({ messages: chunks[0]! })
      // In order, one request per chunk: a whole batch in one request can exceed message.max.bytes.
      const offsets: NonNullable<ProduceResult['offsets']> = []
      for (const chunk of chunks) {
        const result = await this.#producer.send({ messages: chunk })
        if (result.offsets) offsets.push(...result.offsets)
      }
      return { offsets }
    } catch (error) {
      // Ended by the delivery timeout of another send (the client was closed): that is the reason.
      if (this.#expired) throw this.#expired
      const description = describeError(error)
      const tooLarge = tooLargeHint(description)
      throw new KafkaError(`Producing ${records.length} record(s) failed: ${description}${tooLarge ?? ''}`, {
        ...(tooLarge ? { retryable: false } : {}),
        cause: error,
      })
    }
  }

  /**
   * Opens the producer's one transaction. Calls on the returned object are serialised, because the
   * client silently drops concurrent transactional requests of the same kind.
   */
  async beginTransaction(): Promise<KafkaTransaction> {
    if (this.#transaction && !this.#transaction.completed) {
      throw new KafkaError('A transaction is already open on this producer: commit or abort it first.', {
        retryable: false,
      })
    }
    try {
      this.#transaction = new KafkaTransaction(await this.#producer.beginTransaction(), this.#producer)
      return this.#transaction
    } catch (error) {
      throw new KafkaError(`Could not begin a Kafka transaction: ${describeError(error)}`, { cause: error })
    }
  }

  /**
   * Takes over the transactional id now instead of at the first transaction: InitProducerId fences a
   * previous instance with the same id (a process that crashed) and has the coordinator abort its open
   * transaction. Until then that transaction's pending offset commit makes the group's offsets unreadable
   * (UNSTABLE_OFFSET_COMMIT) for the transaction timeout plus the broker's abort sweep, up to ~15 s.
   */
  async takeOver(): Promise<void> {
    const tx = await this.beginTransaction()
    await tx.discard()
  }

  async close(): Promise<void> {
    this.#closing ??= this.#producer.close()
    await this.#closing
  }
}

/**
 * Between retries through an outage: 250 ms, 500 ms, then every second (Java's producer backs off from 100 ms
 * to 1 s), so a broker restart is noticed within a second of coming back without hammering a dead address.
 */
export function outageRetryDelay(attempt: number, error: Error): number {
  if (findErrorBy(error, 'apiId', 'CONCURRENT_TRANSACTIONS'))
    return Math.min(250, 2 * 2 ** Math.max(0, attempt - 1))
  return Math.min(1000, 250 * 2 ** Math.max(0, attempt - 1))
}

/**
 * 250 ms between retries, except for CONCURRENT_TRANSACTIONS: the coordinator answers it to the first
 * AddPartitionsToTxn of a transaction while it is still writing the previous one's commit markers, which
 * takes milliseconds, so a continuous pipeline (transactions back to back) met it every few batches and
 * each time waited the full 250 ms: the bulk of its p99 latency. Java's producer retries this case after
 * 20 ms; here 2 ms doubling up to 250 ms, so 10 retries still span a second. (10 ms doubling before:
 * bench/ab.ts latency at 20k/s, 3 rounds, p99 median 96.8 → 84.5 ms, p50 23.0 → 20.2 ms.)
 */
export function producerRetryDelay(
  _client: unknown,
  _operation: string,
  attempt: number,
  _retries: number,
  error: Error,
): number {
  if (findErrorBy(error, 'apiId', 'CONCURRENT_TRANSACTIONS'))
    return Math.min(250, 2 * 2 ** Math.max(0, attempt - 1))
  return 250
}

export function toMessage(record: OutgoingRecord): MessageToProduce {
  const message: MessageToProduce = {
    topic: record.topic,
    value: record.value === null ? undefined : toBuffer(record.value),
  }
  if (record.key !== undefined) message.key = toBuffer(record.key)
  if (record.partition !== undefined) message.partition = record.partition
  if (record.timestamp !== undefined) message.timestamp = BigInt(record.timestamp)
  if (record.headers) message.headers = headerMap(record.headers)
  return message
}

function headerMap(headers: Readonly<Record<string, string | Buffer>>): Map<Buffer, Buffer> {
  const map = new Map<Buffer, Buffer>()
  for (const [k, v] of Object.entries(headers)) map.set(Buffer.from(k), toBuffer(v))
  return map
}
