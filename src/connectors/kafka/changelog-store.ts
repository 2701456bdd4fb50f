import { randomUUID } from 'node:crypto'
import { setImmediate as turn } from 'node:timers/promises'
import type { ChangelogOffsets, ChangelogRecord, ChangelogStore } from '../../contracts/changelog.ts'
import { KafkaError } from '../../errors.ts'
import { sleep } from '../../runtime/wait.ts'
import { KafkaAdmin } from './admin.ts'
import type { KafkaConnection } from './connection.ts'
import { KafkaConsumer } from './consumer.ts'
import { type KafkaAccess, needing } from './denied.ts'
import { partitionKey } from './records.ts'

/** How long endOffsets({ settled }) waits for the last transaction's markers. */
const SETTLE_MS = 5_000

/** How long reading a changelog may go without progress before it fails (a broker gone). */
const STALL_MS = 120_000

/** Each restore reads in a consumer group of its own, named with this prefix and a random id. */
export const RESTORE_GROUP_PREFIX = 'sluice-restore-'

/**
 * Changelog topics on the sink's cluster: compacted, partitioned like the input, read back with
 * read_committed so that only state whose transaction (with the output and the source's offsets) committed
 * is restored.
 */
export class KafkaChangelogStore implements ChangelogStore {
  readonly #connection: KafkaConnection

  constructor(connection: KafkaConnection) {
    this.#connection = connection
  }

  async prepare(topics: readonly string[], partitions: number): Promise<void> {
    const admin = new KafkaAdmin(this.#connection)
    try {
      for (const topic of topics) {
        const read = [{ operation: 'Read', resource: 'topic', name: topic }] as const
        const existing = await needing(this.#connection, read, () => admin.partitionCount(topic))
        if (existing === undefined) {
          const create = [{ operation: 'Create', resource: 'topic', name: topic }] as const
          await needing(this.#connection, create, () =>
            admin.createTopic(topic, {
              partitions,
              configs: { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '0' },
            }),
          )
        } else if (existing !== partitions) {
          throw new KafkaError(
            `The changelog topic "${topic}" has ${existing} partitions, but the input has ${partitions}: state of input partition p lives in changelog partition p. Delete the changelog topic (the state is rebuilt only by reprocessing) or restore the input's partition count.`,
          )
        }
      }
    } finally {
      await admin.close()
    }
  }

  async read(
    topics: readonly string[],
    partitions: readonly number[],
    apply: (record: ChangelogRecord) => void,
    signal?: AbortSignal,
  ): Promise<ChangelogOffsets> {
    // Settled: a transaction the partitions' previous owner committed a moment ago has written its markers to
    // the __consumer_offsets partition (which is why its offsets read as stable) but maybe not yet to these:
    // their last stable offset would still end before its writes, and the restore would miss them.
    const ends = await this.endOffsets(topics, partitions, { settled: true })
    const wanted = new Set(partitions)
    const end = new Map<string, bigint>()
    for (const [key, offset] of ends) if (offset > 0) end.set(key, BigInt(offset))
    if (end.size === 0) return ends
    // A group of its own that assigns itself just these partitions and never commits.
    const consumer = new KafkaConsumer({
      ...this.#connection,
      groupId: `${RESTORE_GROUP_PREFIX}${randomUUID()}`,
      topics: [...topics],
      partitions: new Map(topics.map((t) => [t, [...wanted]])),
      start: { from: 'earliest' },
      // The client parses a whole fetch response in one go: at 16 MB (hundreds of thousands of small changelog
      // records) that held the event loop for 2.3 s of a 1M-key restore (6.3 s); with 2 MB fetches the loop's
      // longest stall was 0.65 s, at start-up, and the restore took 5.8 s (bench/micro/restore.ts, load ~4).
      maxBytesPerPartition: 256 * 1024,
      maxBytes: 2 * 1024 * 1024,
      highWaterMark: 16_384,
    })
    const access: KafkaAccess[] = [
      { operation: 'Read', resource: 'group', name: RESTORE_GROUP_PREFIX, prefixed: true },
      ...topics.map((name) => ({ operation: 'Read', resource: 'topic', name }) as const),
    ]
    try {
      await needing(this.#connection, access, () => this.#restore(consumer, end, topics, apply, signal))
    } finally {
      await consumer.close()
    }
    return ends
  }

  async #restore(
    consumer: KafkaConsumer,
    end: Map<string, bigint>,
    topics: readonly string[],
    apply: (record: ChangelogRecord) => void,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    let progressAt = Date.now()
    while (!consumer.caughtUp(end)) {
      // One fetch holds many polls of small changelog records, and a poll the client's buffer answers
      // resolves at once: without this turn a restore of 1M keys held the event loop for 8.4 s, and the
      // heartbeats (timers) with it, near the group's session timeout.
      await turn()
      if (signal?.aborted) throw new KafkaError('Restoring state was interrupted (the run is stopping).')
      const records = await consumer.poll({ maxRecords: 10_000, lingerMs: 0, idleMs: 200 })
      if (records.length > 0) progressAt = Date.now()
      else if (Date.now() - progressAt > STALL_MS)
        throw new KafkaError(
          `Restoring state from ${topics.join(', ')} made no progress for ${STALL_MS / 1000} s.`,
        )
      for (const r of records) {
        if (!r.key) continue
        apply({
          topic: r.topic,
          partition: r.partition,
          key: r.key.toString('utf8'),
          value:
            r.value === null || r.value === undefined || r.value.length === 0
              ? null
              : r.value.toString('utf8'),
        })
      }
    }
  }

  async endOffsets(
    topics: readonly string[],
    partitions: readonly number[],
    options: { settled?: boolean } = {},
  ): Promise<ChangelogOffsets> {
    const wanted = new Set(partitions)
    const ends = new Map<string, number>()
    if (wanted.size === 0) return ends
    const admin = new KafkaAdmin(this.#connection)
    try {
      const deadline = Date.now() + SETTLE_MS
      for (const topic of topics) {
        for (;;) {
          const stable = await admin.offsets(topic)
          // Settled: no transaction open or being completed on the wanted partitions (the last one's
          // markers written), so the stable end is where the committed writes end; or the transactions open
          // there are only Ongoing ones, a dead or fenced owner's that can only abort, and the stable end is
          // where the first of them starts (ongoing-transactions.ts).
          const open = options.settled
            ? [...(await admin.offsets(topic, undefined, false))]
                .filter(([p, end]) => wanted.has(p) && stable.get(p) !== end)
                .map(([p]) => p)
            : []
          const starts = open.length > 0 ? await admin.ongoingTransactionStarts(topic, open) : undefined
          const settled =
            open.length === 0 ||
            Date.now() > deadline ||
            (starts !== undefined && open.every((p) => starts.get(p) === stable.get(p)))
          if (settled) {
            for (const [p, offset] of stable)
              if (wanted.has(p)) ends.set(partitionKey(topic, p), Number(offset))
            break
          }
          await sleep(50)
        }
      }
    } finally {
      await admin.close()
    }
    return ends
  }
}
