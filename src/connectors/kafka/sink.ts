import { UsageError } from '../../errors.ts'
import type { RegistryParser } from '../../registry/registry-parser.ts'
import type { RowEncoder } from '../../registry/row-encoder.ts'
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
import { sinkDeadLetter } from '../sql/rows.ts'
import { KafkaAdmin } from './admin.ts'
import { KafkaChangelogStore } from './changelog-store.ts'
import type { KafkaConnection } from './connection.ts'
import { DEFAULT_MAX_MESSAGE_BYTES, deadLetterRecord } from './dead-letter-record.ts'
import { type KafkaAccess, needing } from './denied.ts'
import { KafkaProducer } from './producer.ts'
import type { Compression, OutgoingRecord } from './records.ts'
import { KafkaSourceReader } from './source.ts'
import type { KafkaTransaction } from './transaction.ts'

export interface KafkaSinkOptions<T> extends KafkaConnection {
  readonly topic: string
  /** Record key; default: the row's `key` field when it has one. */
  readonly key?: (row: T) => string | number | null | undefined
  /**
   * The record value of a row; null for a null value (a tombstone). Default `recordValue`: a string or bytes as
   * they are, null as a null value, anything else as JSON.
   */
  readonly serialize?: (row: T) => Buffer | string | null
  /**
   * Avro, Protobuf or JSON Schema in the Confluent wire format: `registry({ url, type: 'avro' })`. At start
   * the sink registers the output subject's schema (default `<topic>-value`; the schema derived from the
   * pipeline's row type, or registry({ schema })), or finds it registered; a schema the subject's
   * compatibility level refuses stops the run there, with the registry's message, before anything is
   * written. A row that does not fit the schema is a dead letter with the reason.
   */
  readonly format?: RegistryParser<unknown>
  /** Dead letters go here, in the same transaction as the rows, with their raw bytes and the reason in headers. */
  readonly deadLetterTopic?: string
  /** Create missing topics with this many partitions (default: fail when missing). */
  readonly createPartitions?: number
  readonly compression?: Compression
}

/**
 * A row's record value when the sink has no `serialize`: a string as its UTF-8 bytes and a Buffer (or any other
 * Uint8Array) as its bytes, both exactly as they are, so a pipeline copying lines or records passes them through
 * untouched; null or undefined as a null value (on a compacted topic, a tombstone for the key); objects, arrays,
 * numbers and booleans as JSON. Anything JSON cannot represent (a bigint, a function) needs `serialize`.
 */
export function recordValue(row: unknown): Buffer | string | null {
  if (typeof row === 'string' || Buffer.isBuffer(row)) return row
  if (row instanceof Uint8Array) return Buffer.from(row.buffer, row.byteOffset, row.byteLength)
  if (row === null || row === undefined) return null
  let json: string | undefined
  try {
    json = JSON.stringify(row)
  } catch (error) {
    throw new UsageError(
      `kafkaSink(): a row cannot be written as JSON (${(error as Error).message}): give kafkaSink a serialize function.`,
      error,
    )
  }
  if (json === undefined)
    throw new UsageError(
      `kafkaSink(): a row of type ${typeof row} has no JSON form: give kafkaSink a serialize function.`,
    )
  return json
}

function defaultKey(row: unknown): string | undefined {
  if (row !== null && typeof row === 'object' && 'key' in row) {
    const key = (row as { key: unknown }).key
    if (typeof key === 'string' || typeof key === 'number') return String(key)
  }
  return undefined
}

/**
 * Writes rows to a topic. With a Kafka source it is exactly-once: one transaction per batch carries the
 * rows, the dead letters and the source group's offsets, so output and progress commit together or not at
 * all. Without a Kafka source it is at-least-once (a replayed batch is written again).
 */
/** Prefix of the metadata committed with the group's offsets in a transaction: "sluice-batch=<batch id>". */
const BATCH_METADATA = 'sluice-batch='

class KafkaSinkWriter<T> implements SinkWriter<T> {
  readonly description: string
  readonly #options: KafkaSinkOptions<T>
  #producer: KafkaProducer | undefined
  #source: KafkaSourceReader | undefined
  #tx: KafkaTransaction | undefined
  /** Write on the transactional id, which every transactional call needs (none without a Kafka source). */
  #transactionAccess: readonly KafkaAccess[] = []
  /** The dead-letter topic's max.message.bytes: a bigger dead letter is cut to fit. */
  #deadLetterMaxBytes = DEFAULT_MAX_MESSAGE_BYTES
  /** With a registry format: the output subject's schema, registered at open. */
  #encoder: RowEncoder | undefined
  /** The rows of the last batch the schema did not take. */
  #rejected: { readonly batch: OutputBatch<T>; readonly letters: readonly DeadLetter[] } | undefined

  constructor(options: KafkaSinkOptions<T>) {
    this.#options = options
    this.description = `kafka ${options.topic}`
  }

  /**
   * With a Kafka source: exactly-once, one transaction per batch with the group's offsets. Otherwise
   * at-least-once: rows are sent at once and the runtime acknowledges the source after.
   */
  async open(context: SinkOpenContext): Promise<SinkContract> {
    const admin = new KafkaAdmin(this.#options)
    try {
      for (const topic of [this.#options.topic, this.#options.deadLetterTopic].filter(
        (t): t is string => !!t,
      )) {
        const write = [{ operation: 'Write', resource: 'topic', name: topic }] as const
        if ((await needing(this.#options, write, () => admin.partitionCount(topic))) !== undefined) continue
        const create = [{ operation: 'Create', resource: 'topic', name: topic }] as const
        await needing(this.#options, create, () =>
          admin.ensureTopic(topic, {
            create: this.#options.createPartitions !== undefined,
            partitions: this.#options.createPartitions ?? 1,
          }),
        )
      }
      if (this.#options.deadLetterTopic)
        this.#deadLetterMaxBytes =
          (await admin.maxMessageBytes(this.#options.deadLetterTopic)) ?? DEFAULT_MAX_MESSAGE_BYTES
    } finally {
      await admin.close()
    }
    // Before the producer exists: a refused schema stops the run with nothing written.
    if (this.#options.format?.encoder)
      this.#encoder = await this.#options.format.encoder({
        topic: this.#options.topic,
        rowType: context.rowType,
      })
    this.#source = context.source instanceof KafkaSourceReader ? context.source : undefined
    const txnId = this.#source ? transactionalId(context, this.#options.topic) : undefined
    // The ids of all its instances share this prefix: the one ACL a pipeline needs, however it scales.
    const txnPrefix = `sluice-${context.pipelineId}-`
    this.#transactionAccess = txnId
      ? [{ operation: 'Write', resource: 'transactional-id', name: txnPrefix, prefixed: true }]
      : []
    this.#producer = new KafkaProducer({
      ...this.#options,
      clientId: this.#options.clientId ?? `sluice-${context.pipelineId}-sink`,
      // One transactional id per pipeline, or per instance when instances share the source's partitions: a
      // restarted instance fences the old one and aborts its open transaction.
      ...(txnId ? { transactionalId: txnId } : {}),
      ...(this.#options.compression ? { compression: this.#options.compression } : {}),
    })
    // Before recovery reads the group's offsets: a crashed run's open transaction is aborted now.
    if (this.#source) await needing(this.#options, this.#transactionAccess, () => this.#producer!.takeOver())
    const transactional = this.#source !== undefined
    return {
      guarantee: transactional ? 'exactly-once' : 'at-least-once',
      storesPositions: transactional,
      commitsSourceOffsets: transactional,
      storesDeadLetters: this.#options.deadLetterTopic !== undefined,
      ...(transactional ? { changelog: new KafkaChangelogStore(this.#options) } : {}),
    }
  }

  #records(batch: OutputBatch<T>): OutgoingRecord[] {
    const keyOf = this.#options.key ?? (defaultKey as (row: T) => string | undefined)
    const serialize = this.#options.serialize ?? recordValue
    const encoder = this.#encoder
    const out: OutgoingRecord[] = []
    const letters: DeadLetter[] = []
    for (let i = 0; i < batch.rows.length; i++) {
      const row = batch.rows[i] as T
      const key = keyOf(row)
      const recordKey = key === null || key === undefined ? undefined : String(key)
      let value: Buffer | string | null
      if (encoder) {
        const encoded = encoder.encode(row)
        if (!encoded.ok) {
          letters.push(sinkDeadLetter('kafka', encoded.reason, row, recordKey ?? null))
          continue
        }
        value = encoded.value
      } else value = serialize(row)
      out.push({ topic: this.#options.topic, key: recordKey, value })
    }
    this.#rejected = { batch, letters }
    const dlq = this.#options.deadLetterTopic
    if (dlq)
      for (const letter of [...batch.deadLetters, ...letters])
        out.push(deadLetterRecord(dlq, letter, this.#deadLetterMaxBytes))
    for (const change of batch.changelog ?? [])
      out.push({ topic: change.topic, partition: change.partition, key: change.key, value: change.value })
    return out
  }

  async write(batch: OutputBatch<T>): Promise<void> {
    const producer = this.#producer!
    const records = this.#records(batch)
    // Writing needs Write on every topic of the batch (the output, dead letters, changelogs).
    const access: KafkaAccess[] = [...new Set(records.map((r) => r.topic))].map((name) => ({
      operation: 'Write',
      resource: 'topic',
      name,
    }))
    if (!this.#source) {
      await needing(this.#options, access, () => producer.send(records))
      return
    }
    await needing(this.#options, [...access, ...this.#transactionAccess], async () => {
      this.#tx = await producer.beginTransaction()
      await this.#tx.send(records)
    })
  }

  async commit(batch: OutputBatch<T>, context: SinkCommitContext): Promise<void> {
    if (!this.#source || !this.#tx) return
    const tx = this.#tx
    this.#tx = undefined
    await this.#source.commitInTransaction(
      tx,
      context.records,
      `${BATCH_METADATA}${batch.batchId}`,
      context.heldPartitions,
    )
    await needing(this.#options, this.#transactionAccess, () => tx.commit())
  }

  /**
   * With a Kafka source: the last batch whose transaction committed (its id is stored beside the group's
   * offsets) and the group's positions after it, so that a restart can trust the group when the checkpoint
   * is behind, or another run moved the group (see planRecovery).
   */
  async committedPosition(): Promise<CommittedPosition | undefined> {
    if (!this.#source) return undefined
    const { positions, metadata } = await this.#source.committedWithMetadata()
    let batchId: number | undefined
    for (const m of metadata) {
      if (!m.startsWith(BATCH_METADATA)) continue
      const id = Number(m.slice(BATCH_METADATA.length))
      if (Number.isInteger(id) && (batchId === undefined || id > batchId)) batchId = id
    }
    return batchId === undefined ? undefined : { batchId, positions }
  }

  rejected(batch: OutputBatch<T>): readonly DeadLetter[] {
    return this.#rejected?.batch === batch ? this.#rejected.letters : []
  }

  async abort(): Promise<void> {
    const tx = this.#tx
    this.#tx = undefined
    await tx?.abort()
  }

  async hasCommitted(batch: { batchId: number; end: Positions }): Promise<boolean> {
    if (!this.#source) return false
    const committed = await this.#source.committedPositions()
    const entries = Object.entries(batch.end)
    return entries.length > 0 && entries.every(([p, offset]) => committed[p] === offset)
  }

  async close(): Promise<void> {
    await this.abort().catch(() => {})
    await this.#producer?.close()
  }
}

function transactionalId(context: SinkOpenContext, topic: string): string {
  const id = `sluice-${context.pipelineId}-${topic}`
  return context.instance === undefined ? id : `${id}-${context.instance}`
}

/** A Kafka sink: `.to(kafkaSink({ topic: 'page-metrics' }))`. */
export function kafkaSink<T>(options: KafkaSinkOptions<T>): SinkSpec<T> {
  if (!options.topic) throw new UsageError('kafkaSink(): a topic is required.')
  const { format } = options
  if (format && !format.encoder)
    throw new UsageError(
      "kafkaSink(): format: registry({ … }) needs the format to write: registry({ url, type: 'avro' | 'protobuf' | 'json-schema' }).",
    )
  if (format && options.serialize)
    throw new UsageError('kafkaSink(): give either format or serialize, not both.')
  return {
    type: 'kafka',
    options: {
      topic: options.topic,
      ...(format?.type ? { format: format.type } : {}),
      ...(options.deadLetterTopic ? { deadLetterTopic: options.deadLetterTopic } : {}),
    },
    scalesOut: 'with-state',
    create: () => new KafkaSinkWriter<T>(options),
  }
}
