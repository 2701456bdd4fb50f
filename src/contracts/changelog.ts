/**
 * The changelog contract: how keyed state travels between the instances of a pipeline. Every stateful
 * operator has a compacted topic `<pipeline>-<operator id>-changelog`, partitioned like the input; task p
 * writes its state changes to partition p in the same transaction as its output and the source's offsets,
 * so a changelog partition read to its end holds exactly the state after the partition's committed position.
 * A sink whose transactions can carry it declares it (SinkContract.changelog); the runtime, not the sink,
 * decides what goes in it. The Kafka sink keeps it in those topics; the PostgreSQL and MariaDB/MySQL sinks
 * keep the same records in tables of their database (the topic name as a column, see
 * src/connectors/sql/changelog.ts), written in their batch's transaction, and answer with versions where
 * Kafka has offsets.
 */

/** One record of a changelog topic: a state row written (value) or deleted (null), or a position marker. */
export interface ChangelogRecord {
  readonly topic: string
  readonly partition: number
  readonly key: string
  /** null: a tombstone (the row was deleted; compaction removes the key). */
  readonly value: string | null
}

/** What a transactional sink offers for the changelog besides carrying its records (OutputBatch.changelog). */
export interface ChangelogStore {
  /**
   * Creates the missing changelog topics (compacted, `partitions` partitions each) and checks that existing
   * ones have that many partitions.
   */
  prepare(topics: readonly string[], partitions: number): Promise<void>
  /**
   * Reads the given partitions of `topics` from their beginning to their last stable offset once settled
   * (see endOffsets: committed records only, the last commit's included), calling `apply` for each record in
   * offset order per partition. Returns the offsets it read up to (as endOffsets() names them).
   */
  read(
    topics: readonly string[],
    partitions: readonly number[],
    apply: (record: ChangelogRecord) => void,
    signal?: AbortSignal,
  ): Promise<ChangelogOffsets>
  /**
   * The last stable offset of the given partitions of `topics`: where the committed changelog ends now. A
   * task's local store records them when it commits; when they are still the same at its next assignment,
   * nobody changed the state since and the store is current. `settled`: first wait (briefly) until no
   * transaction is open or completing on them, so that the last commit's writes are included.
   */
  endOffsets(
    topics: readonly string[],
    partitions: readonly number[],
    options?: { readonly settled?: boolean },
  ): Promise<ChangelogOffsets>
}

/** Offsets per changelog partition, keyed "<topic>:<partition>" (changelogKey). */
export type ChangelogOffsets = ReadonlyMap<string, number>

/** The key of a changelog partition in ChangelogOffsets. */
export function changelogKey(topic: string, partition: number): string {
  return `${topic}:${partition}`
}

/** The changelog topic of one operator. */
export function changelogTopic(pipelineId: string, operatorId: string): string {
  return `${pipelineId}-${operatorId}-changelog`
}
