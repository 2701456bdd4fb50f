import { partitionKey } from '../connectors/kafka/records.ts'
import type { ChangelogOffsets, ChangelogRecord, ChangelogStore } from '../contracts/changelog.ts'
import { SluiceError } from '../errors.ts'

/**
 * The test driver's changelog topics, in memory: what Kafka keeps for a scaled-out run (KafkaChangelogStore),
 * as the driver stands in for the source and the sink too. Each partition is an append-only log whose offsets
 * are record indexes; nothing is compacted, which reads back to the same state as a compacted topic (the
 * last record per key wins either way). Every append is committed: the driver commits each batch whole.
 */
export class MemoryChangelogStore implements ChangelogStore {
  /** Records per "<topic>:<partition>", in offset order. */
  readonly #logs = new Map<string, ChangelogRecord[]>()
  readonly #partitions = new Map<string, number>()

  async prepare(topics: readonly string[], partitions: number): Promise<void> {
    for (const topic of topics) {
      const existing = this.#partitions.get(topic)
      if (existing !== undefined && existing !== partitions)
        throw new SluiceError(
          'SLUICE_CHANGELOG_PARTITIONS',
          `The changelog topic "${topic}" has ${existing} partitions, but the input has ${partitions}: state of input partition p lives in changelog partition p.`,
          { domain: 'user' },
        )
      this.#partitions.set(topic, partitions)
    }
  }

  async read(
    topics: readonly string[],
    partitions: readonly number[],
    apply: (record: ChangelogRecord) => void,
  ): Promise<ChangelogOffsets> {
    const ends = this.ends(topics, partitions)
    for (const topic of topics)
      for (const partition of partitions) {
        const log = this.#logs.get(partitionKey(topic, partition)) ?? []
        const end = ends.get(partitionKey(topic, partition)) ?? 0
        for (let offset = 0; offset < end; offset++) apply(log[offset]!)
      }
    return ends
  }

  async endOffsets(topics: readonly string[], partitions: readonly number[]): Promise<ChangelogOffsets> {
    return this.ends(topics, partitions)
  }

  /** endOffsets(), synchronously: the driver commits a batch's local stores without awaiting. */
  ends(topics: readonly string[], partitions: readonly number[]): ChangelogOffsets {
    const ends = new Map<string, number>()
    for (const topic of topics)
      for (const partition of partitions) {
        const key = partitionKey(topic, partition)
        ends.set(key, this.#logs.get(key)?.length ?? 0)
      }
    return ends
  }

  /** Writes a batch's changelog records, as the sink's transaction does when the batch commits. */
  append(records: readonly ChangelogRecord[]): void {
    for (const record of records) {
      const expected = this.#partitions.get(record.topic)
      if (expected === undefined || record.partition < 0 || record.partition >= expected)
        throw new Error(`internal: changelog record for ${record.topic}:${record.partition}, not prepared`)
      const key = partitionKey(record.topic, record.partition)
      const log = this.#logs.get(key)
      if (log) log.push(record)
      else this.#logs.set(key, [record])
    }
  }

  /** Every record of one changelog topic's partition, in offset order (for tests that inspect state). */
  records(topic: string, partition: number): readonly ChangelogRecord[] {
    return this.#logs.get(partitionKey(topic, partition)) ?? []
  }
}
