import type { PoolConnection, RowDataPacket } from 'mysql2/promise'
import { UsageError } from '../../errors.ts'
import type { Positions, SourceRecord } from '../../runtime/source.ts'
import { batchPartitions, type PartitionRow, PartitionVersions } from '../sql/partition-versions.ts'
import { describeTable } from './schema.ts'
import { quoteId } from './sql.ts'

/** The table of positions per partition is named after the offsets table. */
export const PARTITIONS_SUFFIX = '_partitions'

/**
 * The positions of a pipeline whose instances share the source's partitions, in MariaDB/MySQL: one InnoDB row
 * per partition (see src/connectors/sql/partition-versions.ts for the table and how commits fence), next to
 * the single-row offsets table of a pipeline that runs as one process. `partition` is a reserved word here:
 * always quoted.
 */
export class MySqlPartitionOffsets {
  readonly #table: string
  readonly #pipelineId: string
  readonly #versions: PartitionVersions

  constructor(offsetsTable: string, pipelineId: string, sink: string) {
    this.#table = `${offsetsTable}${PARTITIONS_SUFFIX}`
    this.#pipelineId = pipelineId
    this.#versions = new PartitionVersions(sink)
  }

  /** Creates the table when missing and checks that an existing one is Sluice's. */
  async ensure(conn: PoolConnection, database: string, keyCollation: string): Promise<void> {
    const key = `VARCHAR(255) CHARACTER SET utf8mb4 COLLATE ${keyCollation} NOT NULL`
    await conn.query(
      `CREATE TABLE IF NOT EXISTS ${quoteId(this.#table)} (
        pipeline_id ${key},
        \`partition\` ${key},
        position BIGINT NULL,
        instance VARCHAR(255) NULL,
        version BIGINT NOT NULL DEFAULT 0,
        updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        PRIMARY KEY (pipeline_id, \`partition\`)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    )
    const table = await describeTable(conn, database, this.#table)
    const columns = ['pipeline_id', 'partition', 'position', 'instance', 'version', 'updated_at']
    const missing = columns.filter((c) => !table?.columns.has(c))
    if (missing.length > 0)
      throw new UsageError(
        `mysql(): table ${quoteId(database)}.${quoteId(this.#table)} exists but lacks column(s) ${missing.map(quoteId).join(', ')}; it is not Sluice's (choose another offsetsTable, whose name it takes, or run with scaleOut: false).`,
      )
  }

  /**
   * A pipeline that ran as one process before keeps its positions in the single offsets row: the first
   * scaled-out start takes them over (once: later rows win), so no partition starts behind what was written.
   */
  async adopt(conn: PoolConnection, single: Positions): Promise<void> {
    const entries = Object.entries(single)
    if (entries.length === 0) return
    await conn.query(
      `INSERT IGNORE INTO ${quoteId(this.#table)} (pipeline_id, \`partition\`, position, instance) VALUES ?`,
      [entries.map(([partition, position]) => [this.#pipelineId, partition, position, 'single-process'])],
    )
  }

  /**
   * The committed positions of `partitions` (a partition without one is absent). The partitions' next commits
   * through this object expect the versions read now: read a partition when it is assigned.
   */
  async read(conn: PoolConnection, partitions: readonly string[]): Promise<Positions> {
    if (partitions.length === 0) return {}
    return this.#versions.assigned(partitions, await this.#rows(conn, partitions, false))
  }

  /**
   * Inside the batch's transaction: locks the rows of the batch's partitions (those of `records`, and
   * `held`: partitions whose tasks ran without records), checks they hold `expected` (a partition absent from
   * it: nothing committed) and the version this instance expects, stores `next` for the partitions of
   * `records` and counts the commit in every locked row. Throws SinkFencedError otherwise. Returns what
   * committed() records once the transaction committed.
   */
  async commit(
    conn: PoolConnection,
    records: readonly SourceRecord[],
    expected: Positions,
    next: Positions,
    instance: string,
    held: readonly string[] = [],
  ): Promise<ReadonlyMap<string, number>> {
    const { partitions, moved } = batchPartitions(records, next, held)
    if (partitions.length === 0) return new Map()
    const table = quoteId(this.#table)
    // Rows first, so that two instances committing a partition's first batch at once queue on its row (the
    // second's duplicate-key check waits for the first's insert, then finds it) instead of both finding none;
    // a locking read of a missing row would only lock the gap, which both may hold at once.
    await conn.query(`INSERT IGNORE INTO ${table} (pipeline_id, \`partition\`) VALUES ?`, [
      partitions.map((p) => [this.#pipelineId, p]),
    ])
    const versions = this.#versions.check(await this.#rows(conn, partitions, true), expected)
    const positions = Object.entries(moved)
    const position =
      positions.length === 0
        ? 'position'
        : `CASE \`partition\` ${positions.map(() => 'WHEN ? THEN ?').join(' ')} ELSE position END`
    await conn.query(
      `UPDATE ${table} SET position = ${position}, version = version + 1, instance = ?, ` +
        'updated_at = CURRENT_TIMESTAMP(3) WHERE pipeline_id = ? AND `partition` IN (?)',
      [...positions.flat(), instance, this.#pipelineId, partitions],
    )
    return versions
  }

  /** The transaction of commit() committed: its versions are the ones the next commits expect. */
  committed(versions: ReadonlyMap<string, number>): void {
    this.#versions.committed(versions)
  }

  /** The rows of `partitions`, in their order; with `lock`, locked until the transaction ends. */
  async #rows(conn: PoolConnection, partitions: readonly string[], lock: boolean): Promise<PartitionRow[]> {
    const [rows] = await conn.query<RowDataPacket[]>(
      `SELECT \`partition\`, position, version FROM ${quoteId(this.#table)} ` +
        `WHERE pipeline_id = ? AND \`partition\` IN (?) ORDER BY \`partition\`${lock ? ' FOR UPDATE' : ''}`,
      [this.#pipelineId, [...partitions]],
    )
    return rows.map((r) => ({
      partition: String(r['partition']),
      position: r['position'] === null ? undefined : Number(r['position']),
      version: Number(r['version']),
    }))
  }
}
