import { randomUUID } from 'node:crypto'
import { KafkaAdmin } from '../connectors/kafka/admin.ts'
import type { KafkaConnection } from '../connectors/kafka/connection.ts'
import { KafkaConsumer, type StartPosition } from '../connectors/kafka/consumer.ts'
import type { ConsumedRecord } from '../connectors/kafka/records.ts'
import { UsageError } from '../errors.ts'
import { matchesAll, type RecordFilter } from './filter.ts'
import { type DecodedPayload, decodePayload } from './render.ts'

export interface ListenOptions extends KafkaConnection {
  readonly topic: string
  /**
   * Consumer group. Without one every listener gets its own throw-away group and so a copy of every record
   * (fan-out); listeners sharing a group split the partitions between them (load balancing) and commit.
   */
  readonly group?: string
  readonly from?: 'beginning' | 'latest' | { readonly time: number }
  readonly max?: number
  readonly filters?: readonly RecordFilter[]
  readonly signal?: AbortSignal
  /** Called once the listener has joined its group and owns partitions (or the group has settled). */
  readonly onReady?: () => void
}

export interface ListenResult {
  /** Records printed (that passed the filters). */
  readonly delivered: number
  /** Records read, filtered or not. */
  readonly read: number
}

function startPosition(options: ListenOptions): StartPosition {
  const from = options.from ?? 'latest'
  if (typeof from === 'object') return { from: 'timestamp', timestamp: from.time }
  const fallback = from === 'beginning' ? 'earliest' : 'latest'
  return options.group ? { from: 'committed', fallback } : { from: fallback }
}

/** Subscribes to a topic and hands each record (and its decoded value) to `onRecord` until max, or abort. */
export async function listen(
  options: ListenOptions,
  onRecord: (record: ConsumedRecord, payload: DecodedPayload) => void,
): Promise<ListenResult> {
  const admin = new KafkaAdmin(options)
  try {
    if ((await admin.partitionCount(options.topic)) === undefined) {
      throw new UsageError(
        `Topic "${options.topic}" does not exist: produce to it first or create it (sluice produce --partitions N).`,
      )
    }
  } finally {
    await admin.close()
  }
  const consumer = new KafkaConsumer({
    ...options,
    clientId: options.clientId ?? 'sluice-listen',
    groupId: options.group ?? `sluice-listen-${randomUUID()}`,
    topics: [options.topic],
    start: startPosition(options),
  })
  const filters = options.filters ?? []
  const max = options.max ?? Number.POSITIVE_INFINITY
  let delivered = 0
  let read = 0
  let ready = false
  try {
    for await (const batch of consumer.batches({
      maxRecords: 1000,
      lingerMs: 0,
      idleMs: 200,
      ...(options.signal ? { signal: options.signal } : {}),
    })) {
      if (!ready && consumer.ownedPartitions().size > 0) {
        ready = true
        options.onReady?.()
      }
      let last = 0
      for (const record of batch) {
        if (delivered >= max) break
        read++
        last++
        const payload = decodePayload(record.value)
        if (filters.length > 0 && !matchesAll(payload.kind === 'json' ? payload.value : undefined, filters))
          continue
        onRecord(record, payload)
        delivered++
      }
      // A shared group commits what was printed, so a restarted listener continues where this one stopped.
      if (options.group && last > 0) await consumer.commit(batch.slice(0, last))
      if (delivered >= max) break
    }
  } finally {
    await consumer.close()
  }
  return { delivered, read }
}
