import type { Pool, RowDataPacket } from 'mysql2/promise'
import mysql2 from 'mysql2/promise'
import { wrapError } from '../connectors/mysql/errors.ts'
import { PARTITIONS_SUFFIX } from '../connectors/mysql/partition-offsets.ts'
import { checkIdentifier, parseMySqlUrl, quoteId } from '../connectors/mysql/sql.ts'
import { DEFAULT_OFFSETS_TABLE } from '../connectors/sql/index.ts'
import type { PipelineRows, SinkDatabase, SinkRowsFound } from './reset-sink-rows.ts'

/**
 * The tables where a MariaDB/MySQL sink keeps a pipeline's positions (src/connectors/mysql), in the URL's
 * database: the offsets table (a row per pipeline) and `<offsets>_partitions` (a row per pipeline and
 * partition). A keyed pipeline into MariaDB/MySQL runs as one instance and keeps its state in its checkpoint.
 */
export function mysqlSinkDatabase(url: string, offsetsTable = DEFAULT_OFFSETS_TABLE): SinkDatabase {
  checkIdentifier(offsetsTable, '--offsets-table')
  const parsed = parseMySqlUrl(url)
  const pool = mysql2.createPool({ ...parsed.pool, connectionLimit: 1, connectTimeout: 10_000 })
  const display = parsed.redacted
  return {
    kind: 'mysql',
    display,
    async find(pipelineId) {
      try {
        return await find(pool, [offsetsTable, `${offsetsTable}${PARTITIONS_SUFFIX}`], pipelineId)
      } catch (error) {
        throw wrapError(error, `reading pipeline "${pipelineId}"'s positions in ${display}`)
      }
    },
    async delete(pipelineId, found) {
      const conn = await pool.getConnection()
      try {
        await conn.beginTransaction()
        for (const { table } of found)
          await conn.query(`DELETE FROM ${quoteId(table)} WHERE pipeline_id = ?`, [pipelineId])
        await conn.commit()
      } catch (error) {
        await conn.rollback().catch(() => {})
        throw wrapError(error, `deleting pipeline "${pipelineId}"'s positions in ${display}`)
      } finally {
        conn.release()
      }
    },
    close: () => pool.end(),
  }
}

async function find(pool: Pool, tables: readonly string[], pipelineId: string): Promise<SinkRowsFound> {
  const [present] = await pool.query<RowDataPacket[]>(
    'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name IN (?)',
    [tables],
  )
  const names = new Set(present.map((r) => String(r['name'])))
  const rows: PipelineRows[] = []
  for (const table of tables.filter((t) => names.has(t))) {
    const [counted] = await pool.query<RowDataPacket[]>(
      `SELECT count(*) AS n FROM ${quoteId(table)} WHERE pipeline_id = ?`,
      [pipelineId],
    )
    const n = Number(counted[0]?.['n'] ?? 0)
    if (n > 0) rows.push({ table, rows: n })
  }
  return { rows, elsewhere: [] }
}
