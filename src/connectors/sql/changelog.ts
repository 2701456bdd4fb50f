import { type ChangelogRecord, type ChangelogStore, changelogKey } from '../../contracts/changelog.ts'
import { SluiceError } from '../../errors.ts'
import type { Positions } from '../../runtime/source.ts'

/**
 * What the SQL sinks that carry a scaled-out pipeline's keyed state (PostgreSQL, MariaDB/MySQL) do alike: they
 * keep the changelog in two tables of the sink's database instead of Kafka topics, so that a batch's state
 * changes commit in the same database transaction as its rows and its partition positions,
 *
 *   sluice_changelog       (topic, partition, key, value): the state of each changelog partition, one row per
 *                          key, upserted; a tombstone deletes the row (what a compacted topic holds after
 *                          compaction, without the history)
 *   sluice_changelog_ends  (topic, partition, version): a row per changelog partition (per input partition),
 *                          its version counting the commits that changed it (endOffsets()), so that a task's
 *                          local store can tell whether it is still current
 *
 * "topic" is the name a changelog topic would have (`<pipeline>-<operator>-changelog`). The state is written
 * inside a batch's transaction after its partitions' position rows are locked, so two instances writing a
 * partition queue there, never on these rows. Each sink keeps its own SQL; this keeps what is decided alike.
 */
export const CHANGELOG_TABLE = 'sluice_changelog'
export const CHANGELOG_ENDS_TABLE = 'sluice_changelog_ends'

/** One changelog partition. */
export interface ChangelogPartition {
  readonly topic: string
  readonly partition: number
}

/** A batch's state changes as its transaction writes them. */
export interface ChangelogChanges {
  /** The last value of each key written (not deleted), in the order of those last writes. */
  readonly put: readonly (ChangelogRecord & { readonly value: string })[]
  /** The keys whose last change is a tombstone. */
  readonly gone: readonly ChangelogRecord[]
  /** Every partition with a change, whose version the commit counts up. */
  readonly written: readonly ChangelogPartition[]
}

/** The last change per key of `records` (later records of a key replace earlier ones). */
export function lastChanges(records: readonly ChangelogRecord[]): ChangelogChanges {
  const last = new Map<string, ChangelogRecord>()
  for (const r of records) {
    const id = `${r.topic}\u0000${r.partition}\u0000${r.key}`
    last.delete(id)
    last.set(id, r)
  }
  const put: (ChangelogRecord & { readonly value: string })[] = []
  const gone: ChangelogRecord[] = []
  const written = new Map<string, ChangelogPartition>()
  for (const r of last.values()) {
    written.set(changelogKey(r.topic, r.partition), { topic: r.topic, partition: r.partition })
    if (r.value === null) gone.push(r)
    else put.push({ ...r, value: r.value })
  }
  return { put, gone, written: [...written.values()] }
}

/** A changelog used before with another partition count than the input has now. */
export function changelogPartitionsError(
  topic: string,
  has: number,
  partitions: number,
  tables: { readonly state: string; readonly ends: string },
): SluiceError {
  return new SluiceError(
    'SLUICE_CHANGELOG_PARTITIONS',
    `The changelog "${topic}" in ${tables.ends} has ${has} partitions, but the input has ${partitions}: state of input partition p lives in changelog partition p. Delete its rows from ${tables.state} and ${tables.ends} (the state is rebuilt only by reprocessing) or restore the input's partition count.`,
    { domain: 'user', exitCode: 2 },
  )
}

/** A SQL sink's changelog store: ChangelogStore, and whether its tables hold a pipeline's state already. */
export interface SqlChangelogStore extends ChangelogStore {
  /** Whether the database holds changelog partitions of `topics` (the pipeline kept state here before). */
  exists(topics: readonly string[]): Promise<boolean>
}

/** What a SQL sink tells checkedChangelog() of itself, for the error that names its tables. */
export interface SinkTables {
  readonly pipelineId: string
  /** The sink's factory, for the way out: "postgres", "mysql". */
  readonly factory: string
  /** The sink's table, as its messages name it. */
  readonly target: string
  /** The offsets table and the one of positions per partition, as the sink's messages name them. */
  readonly offsets: string
  readonly partitions: string
  /** The positions the pipeline's single offsets row held at open (it ran as one process before). */
  readonly single: Positions
}

/**
 * The SinkContract.changelog of a scaled-out SQL sink: `store`, whose prepare() first refuses a keyed pipeline
 * that ran as one process. It kept its state in its checkpoint, which a scaled-out run does not read:
 * starting from the positions it adopted with empty state would write wrong aggregates.
 */
export function checkedChangelog(store: SqlChangelogStore, sink: SinkTables): ChangelogStore {
  return {
    prepare: async (topics, partitions) => {
      if (Object.keys(sink.single).length > 0 && !(await store.exists(topics)))
        throw new SluiceError(
          'SLUICE_STATE_IN_CHECKPOINT',
          `Pipeline "${sink.pipelineId}" wrote to ${sink.target} as one process, with its keyed state (windows, dedupe) in its checkpoint; a scaled-out run keeps that state in the database (${topics.join(', ')} in ${CHANGELOG_TABLE}) and cannot take it from the checkpoint. Keep running it as one process with ${sink.factory}({ …, scaleOut: false }), or start over: delete the pipeline's rows of ${sink.offsets} and ${sink.partitions} and reset the consumer group (the output it already wrote stays).`,
          { domain: 'user', exitCode: 2 },
        )
      await store.prepare(topics, partitions)
    },
    read: (topics, partitions, apply, signal) => store.read(topics, partitions, apply, signal),
    endOffsets: (topics, partitions) => store.endOffsets(topics, partitions),
  }
}
