import { SinkFencedError } from '../../runtime/sink.ts'
import type { Positions, SourceRecord } from '../../runtime/source.ts'

/**
 * What the SQL sinks whose instances share the source's partitions (PostgreSQL, MariaDB/MySQL) do alike with
 * their table of a row per partition,
 *
 *   pipeline_id, partition   the key
 *   position                 the next position to read (NULL: the row exists, nothing committed yet)
 *   instance                 which instance committed it last
 *   version                  how many commits the partition had (a batch that only closed windows counts too)
 *   updated_at               when
 *
 * Each batch's transaction inserts its partitions' missing rows, locks them in sorted order and commits only
 * when they hold what the instance expects: the position and the version it read when the partition was
 * assigned, moved on by its own commits since. An instance that lost a partition to another, which committed
 * it meanwhile, is fenced and its batch rolls back. The version fences a batch that leaves the position where
 * it was (a keyed task closing windows as time passes): two instances each believing they own the partition
 * would otherwise both commit "position unchanged". Each sink keeps its own SQL; this keeps the decisions.
 */
export interface PartitionRow {
  readonly partition: string
  readonly position: number | undefined
  readonly version: number
}

/** The partitions a batch's commit locks: those of its records and `held` (tasks run without records), sorted. */
export interface BatchPartitions {
  /** Sorted, so that concurrent batches lock them in one order and cannot deadlock on them. */
  readonly partitions: readonly string[]
  /** The new positions of the partitions the batch read; held partitions keep theirs. */
  readonly moved: Positions
}

export function batchPartitions(
  records: readonly SourceRecord[],
  next: Positions,
  held: readonly string[],
): BatchPartitions {
  const read = new Set(records.map((r) => r.partition))
  const partitions = [...new Set([...read, ...held])].sort()
  const moved: Record<string, number> = {}
  for (const p of partitions) {
    const position = next[p]
    if (read.has(p) && position !== undefined) moved[p] = position
  }
  return { partitions, moved }
}

/** Per partition: the version this instance read at assignment, moved on by its own commits. */
export class PartitionVersions {
  readonly #versions = new Map<string, number>()
  readonly #sink: string

  /** `sink`: the sink's description, for SinkFencedError. */
  constructor(sink: string) {
    this.#sink = sink
  }

  /**
   * `partitions` were (re)assigned and their rows read (`rows`; a partition without a row has version 0):
   * their next commits expect these versions. Returns their committed positions (absent: none).
   */
  assigned(partitions: readonly string[], rows: readonly PartitionRow[]): Positions {
    for (const partition of partitions) this.#versions.set(partition, 0)
    const positions: Record<string, number> = {}
    for (const row of rows) {
      this.#versions.set(row.partition, row.version)
      if (row.position !== undefined) positions[row.partition] = row.position
    }
    return positions
  }

  /**
   * The rows locked by a batch's transaction hold what this instance expects (`expected`'s position, absent:
   * none, and the version it knows), or SinkFencedError. Returns the versions after this commit, for committed().
   */
  check(locked: readonly PartitionRow[], expected: Positions): ReadonlyMap<string, number> {
    const versions = new Map<string, number>()
    for (const row of locked) {
      const mine = this.#versions.get(row.partition)
      // Same position, other version: another instance committed the partition without moving it.
      if (row.position !== expected[row.partition] || (mine !== undefined && row.version !== mine))
        throw new SinkFencedError(this.#sink, row.partition, expected[row.partition], row.position)
      versions.set(row.partition, row.version + 1)
    }
    return versions
  }

  /** The transaction check() approved committed: its versions are the ones the next commits expect. */
  committed(versions: ReadonlyMap<string, number>): void {
    for (const [partition, version] of versions) this.#versions.set(partition, version)
  }
}
