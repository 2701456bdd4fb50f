import type pg from 'pg'
import { SinkFencedError } from '../../runtime/sink.ts'
import type { Positions, SourceRecord } from '../../runtime/source.ts'
import { qualified, type TableName } from './identifiers.ts'

/**
 * The positions of a pipeline whose instances share the source's partitions: one row per partition,
 *
 *   pipeline_id  text  ┐ primary key
 *   partition    text  ┘
 *   position     bigint, the next position to read (NULL: the row exists, nothing committed yet)
 *   instance     text, which instance committed it last
 *   updated_at   when
 *
 * next to the single-row offsets table of a pipeline that runs as one process. Each batch's transaction
 * locks its partitions' rows and commits only when they hold what the instance expects (the position it
 * read when the partition was assigned, moved on by its own commits since): an instance that lost a
 * partition to another, which committed it meanwhile, is fenced, and its batch rolls back.
 */
export class PostgresPartitionOffsets {
  readonly #table: TableName
  readonly #pipelineId: string
  readonly #sink: string

  constructor(offsets: TableName, pipelineId: string, sink: string) {
    this.#table = { schema: offsets.schema, name: `${offsets.name}_partitions` }
    this.#pipelineId = pipelineId
    this.#sink = sink
  }

  get createSql(): string {
    return (
      `CREATE TABLE IF NOT EXISTS ${qualified(this.#table)} (pipeline_id text NOT NULL, partition text NOT NULL, ` +
      'position bigint, instance text, updated_at timestamptz NOT NULL DEFAULT now(), ' +
      'PRIMARY KEY (pipeline_id, partition))'
    )
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

  async read(db: pg.Pool | pg.ClientBase, partitions: readonly string[]): Promise<Positions> {
    const result = await db.query<{ partition: string; position: string }>(
      `SELECT partition, position FROM ${qualified(this.#table)} ` +
        'WHERE pipeline_id = $1 AND partition = ANY($2::text[]) AND position IS NOT NULL',
      [this.#pipelineId, partitions],
    )
    return Object.fromEntries(result.rows.map((r) => [r.partition, Number(r.position)]))
  }

  /**
   * Inside the batch's transaction: locks the rows of the batch's partitions, checks they hold `expected`
   * (a partition absent from it: nothing committed) and stores `next`. Throws SinkFencedError otherwise.
   */
  async commit(
    client: pg.ClientBase,
    records: readonly SourceRecord[],
    expected: Positions,
    next: Positions,
    instance: string,
  ): Promise<void> {
    const partitions = [...new Set(records.map((r) => r.partition))].sort()
    if (partitions.length === 0) return
    const table = qualified(this.#table)
    // Rows first, so that two instances committing a partition's first batch at once queue on its row
    // (the second waits for the first's insert, then finds it) instead of both finding none.
    await client.query(
      `INSERT INTO ${table} (pipeline_id, partition) SELECT $1, p FROM unnest($2::text[]) AS p ` +
        'ON CONFLICT (pipeline_id, partition) DO NOTHING',
      [this.#pipelineId, partitions],
    )
    // Sorted partitions, locked in one statement in that order: concurrent batches cannot deadlock.
    const locked = await client.query<{ partition: string; position: string | null }>(
      `SELECT partition, position FROM ${table} WHERE pipeline_id = $1 AND partition = ANY($2::text[]) ` +
        'ORDER BY partition FOR UPDATE',
      [this.#pipelineId, partitions],
    )
    const stored = new Map(
      locked.rows.map((r) => [r.partition, r.position === null ? undefined : Number(r.position)]),
    )
    for (const partition of partitions) {
      const has = stored.get(partition)
      if (has !== expected[partition])
        throw new SinkFencedError(this.#sink, partition, expected[partition], has)
    }
    await client.query(
      `UPDATE ${table} AS t SET position = (($3::jsonb) ->> t.partition)::bigint, instance = $4, updated_at = now() ` +
        'WHERE t.pipeline_id = $1 AND t.partition = ANY($2::text[])',
      [this.#pipelineId, partitions, JSON.stringify(next), instance],
    )
  }
}
