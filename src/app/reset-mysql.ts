import type { Pool, RowDataPacket } from 'mysql2/promise'
import mysql2 from 'mysql2/promise'
import { wrapError } from '../connectors/mysql/errors.ts'
import { PARTITIONS_SUFFIX } from '../connectors/mysql/partition-offsets.ts'
import { checkIdentifier, parseMySqlUrl, quoteId } from '../connectors/mysql/sql.ts'
import { CHANGELOG_ENDS_TABLE, CHANGELOG_TABLE } from '../connectors/sql/changelog.ts'
import { DEFAULT_OFFSETS_TABLE } from '../connectors/sql/index.ts'
import {
  pipelineRows,
  type SinkDatabase,
  type SinkRowsFound,
  type SinkTablesReader,
} from './reset-sink-rows.ts'

/**
 * The tables where a MariaDB/MySQL sink keeps a pipeline's positions and state (src/connectors/mysql), in the
 * URL's database: the offsets table (a row per pipeline), `<offsets>_partitions` (a row per pipeline and
 * partition), `sluice_changelog` (rows per changelog topic, partition and key) and `sluice_changelog_ends` (a
 * row per changelog topic and partition). The changelog topics are named `<pipeline>-<step>-changelog`.
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
        return await find(pool, offsetsTable, pipelineId)
      } catch (error) {
        throw wrapError(error, `reading pipeline "${pipelineId}"'s positions in ${display}`)
      }
    },
    async delete(pipelineId, found) {
      const conn = await pool.getConnection()
      try {
        await conn.beginTransaction()
        for (const { table, topic } of found) {
          const [column, value] = topic === undefined ? ['pipeline_id', pipelineId] : ['topic', topic]
          await conn.query(`DELETE FROM ${quoteId(table)} WHERE ${column} = ?`, [value])
        }
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

async function find(pool: Pool, offsetsTable: string, pipelineId: string): Promise<SinkRowsFound> {
  const [found] = await pool.query<RowDataPacket[]>(
    'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name IN (?)',
    [[offsetsTable, `${offsetsTable}${PARTITIONS_SUFFIX}`, CHANGELOG_TABLE, CHANGELOG_ENDS_TABLE]],
  )
  const present = new Set(found.map((r) => String(r['name'])))
  const existing = (name: string) => (present.has(name) ? name : undefined)
  const positions = [existing(offsetsTable), existing(`${offsetsTable}${PARTITIONS_SUFFIX}`)]
  const rows = await pipelineRows(reader(pool), pipelineId, {
    positions: positions.filter((t) => t !== undefined),
    state: existing(CHANGELOG_TABLE),
    ends: existing(CHANGELOG_ENDS_TABLE),
  })
  return { rows, elsewhere: [] }
}

/** The MariaDB/MySQL queries of pipelineRows(). */
function reader(pool: Pool): SinkTablesReader {
  return {
    async countPerPipeline(table, pipelineId) {
      const [counted] = await pool.query<RowDataPacket[]>(
        `SELECT pipeline_id, count(*) AS n FROM ${quoteId(table)} ` +
          'WHERE LEFT(pipeline_id, CHAR_LENGTH(?)) = ? GROUP BY pipeline_id',
        [pipelineId, pipelineId],
      )
      return new Map(counted.map((r) => [String(r['pipeline_id']), Number(r['n'])]))
    },
    async topics(table, prefix) {
      const [found] = await pool.query<RowDataPacket[]>(
        `SELECT DISTINCT topic FROM ${quoteId(table)} WHERE LEFT(topic, CHAR_LENGTH(?)) = ?`,
        [prefix, prefix],
      )
      return found.map((r) => String(r['topic']))
    },
    async countTopic(table, topic) {
      const [counted] = await pool.query<RowDataPacket[]>(
        `SELECT count(*) AS n FROM ${quoteId(table)} WHERE topic = ?`,
        [topic],
      )
      return Number(counted[0]?.['n'] ?? 0)
    },
  }
}
