import type pg from 'pg'
import type { Positions, SourceRecord } from '../../runtime/source.ts'
import { batchPartitions, type PartitionRow, PartitionVersions } from '../sql/partition-versions.ts'
import { qualified, type TableName } from './identifiers.ts'

/**
 * The positions of a pipeline whose instances share the source's partitions, in PostgreSQL: one row per
 * partition (see src/connectors/sql/partition-versions.ts for the table and how commits fence), next to the
 * single-row offsets table of a pipeline that runs as one process.
 */
export class PostgresPartitionOffsets {
  readonly #table: TableName
  readonly #pipelineId: string
  readonly #versions: PartitionVersions

  constructor(offsets: TableName, pipelineId: string, sink: string) {
    this.#table = { schema: offsets.schema, name: `${offsets.name}_partitions` }
    this.#pipelineId = pipelineId
    this.#versions = new PartitionVersions(sink)
  }

  get createSql(): string {
    return (
      `CREATE TABLE IF NOT EXISTS ${qualified(this.#table)} (pipeline_id text NOT NULL, partition text NOT NULL, ` +
      'position bigint, instance text, version bigint NOT NULL DEFAULT 0, ' +
      'updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (pipeline_id, partition))'
    )
  }

  /** A table created before the version column (a stateless scale-out of an earlier Sluice) gains it. */
  get upgradeSql(): string {
    return `ALTER TABLE ${qualified(this.#table)} ADD COLUMN IF NOT EXISTS version bigint NOT NULL DEFAULT 0`
  }

  /**
   * A pipeline that ran as one process before keeps its positions in the single offsets row: the first
   * scaled-out start takes them over (once: later rows win), so no partition starts behind what was written.
   */
  async adopt(db: pg.Pool, single: Positions): Promise<void> {
    const partitions = Object.keys(single)
    if (partitions.length === 0) return
    await db.query(
      `INSERT INTO ${qualified(this.#table)} (pipeline_id, partition, position, instance) ` +
        `SELECT $1, p, (($2::jsonb) ->> p)::bigint, 'single-process' FROM unnest($3::text[]) AS p ` +
        'ON CONFLICT (pipeline_id, partition) DO NOTHING',
      [this.#pipelineId, JSON.stringify(single), partitions],
    )
  }

  /**
   * The committed positions of `partitions` (a partition without one is absent). The partitions' next commits
   * through this object expect the versions read now: read a partition when it is assigned, before reading
   * its state, so that a commit of it by another instance after that fences this one.
   */
  async read(db: pg.Pool | pg.ClientBase, partitions: readonly string[]): Promise<Positions> {
    const result = await db.query<{ partition: string; position: string | null; version: string }>(
      `SELECT partition, position, version FROM ${qualified(this.#table)} ` +
        'WHERE pipeline_id = $1 AND partition = ANY($2::text[])',
      [this.#pipelineId, partitions],
    )
    return this.#versions.assigned(partitions, result.rows.map(partitionRow))
  }

  /**
   * Inside the batch's transaction: locks the rows of the batch's partitions (those of `records`, and
   * `held`: partitions whose tasks ran without records), checks they hold `expected` (a partition absent from
   * it: nothing committed) and the version this instance expects, stores `next` for the partitions of
   * `records` and counts the commit in every locked row. Throws SinkFencedError otherwise. Returns what
   * committed() records once the transaction committed.
   */
  async commit(
    client: pg.ClientBase,
    records: readonly SourceRecord[],
    expected: Positions,
    next: Positions,
    instance: string,
    held: readonly string[] = [],
  ): Promise<ReadonlyMap<string, number>> {
    const { partitions, moved } = batchPartitions(records, next, held)
    if (partitions.length === 0) return new Map()
    const table = qualified(this.#table)
    // Rows first, so that two instances committing a partition's first batch at once queue on its row
    // (the second waits for the first's insert, then finds it) instead of both finding none.
    await client.query(
      `INSERT INTO ${table} (pipeline_id, partition) SELECT $1, p FROM unnest($2::text[]) AS p ` +
        'ON CONFLICT (pipeline_id, partition) DO NOTHING',
      [this.#pipelineId, partitions],
    )
    // Sorted partitions, locked in one statement in that order: concurrent batches cannot deadlock.
    const locked = await client.query<{ partition: string; position: string | null; version: string }>(
      `SELECT partition, position, version FROM ${table} WHERE pipeline_id = $1 AND partition = ANY($2::text[]) ` +
        'ORDER BY partition FOR UPDATE',
      [this.#pipelineId, partitions],
    )
    const versions = this.#versions.check(locked.rows.map(partitionRow), expected)
    await client.query(
      `UPDATE ${table} AS t SET position = COALESCE((($3::jsonb) ->> t.partition)::bigint, t.position), ` +
        'version = t.version + 1, instance = $4, updated_at = now() ' +
        'WHERE t.pipeline_id = $1 AND t.partition = ANY($2::text[])',
      [this.#pipelineId, partitions, JSON.stringify(moved), instance],
    )
    return versions
  }

  /** The transaction of commit() committed: its versions are the ones the next commits expect. */
  committed(versions: ReadonlyMap<string, number>): void {
    this.#versions.committed(versions)
  }
}

/** A row as the driver returns it (bigint as text). */
function partitionRow(row: { partition: string; position: string | null; version: string }): PartitionRow {
  return {
    partition: row.partition,
    position: row.position === null ? undefined : Number(row.position),
    version: Number(row.version),
  }
}
