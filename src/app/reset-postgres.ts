import pg from 'pg'
import { wrapError } from '../connectors/postgres/errors.ts'
import { displayName, parseTableName, qualified, type TableName } from '../connectors/postgres/identifiers.ts'
import { CHANGELOG_ENDS_TABLE, CHANGELOG_TABLE } from '../connectors/sql/changelog.ts'
import { DEFAULT_OFFSETS_TABLE } from '../connectors/sql/index.ts'
import { UsageError } from '../errors.ts'
import {
  pipelineRows,
  type SinkDatabase,
  type SinkRowsFound,
  type SinkTablesReader,
} from './reset-sink-rows.ts'

/**
 * The tables where a PostgreSQL sink keeps a pipeline's positions and state (src/connectors/postgres): the
 * offsets table (a row per pipeline), `<offsets>_partitions` (a row per pipeline and partition) and, in the
 * same schema, `sluice_changelog` (rows per changelog topic, partition and key) and `sluice_changelog_ends`
 * (a row per changelog topic and partition). The changelog topics are named `<pipeline>-<step>-changelog`.
 */
export function postgresSinkDatabase(url: string, offsetsTable = DEFAULT_OFFSETS_TABLE): SinkDatabase {
  const offsets = parseTableName(offsetsTable)
  const pool = new pg.Pool({ connectionString: url, max: 1, connectionTimeoutMillis: 10_000 })
  pool.on('error', () => {})
  const display = describeUrl(url)
  return {
    kind: 'postgres',
    display,
    async find(pipelineId) {
      try {
        return await find(pool, offsets, pipelineId)
      } catch (error) {
        throw wrapError(error, `reading pipeline "${pipelineId}"'s positions in ${display}`)
      }
    },
    async delete(pipelineId, found) {
      const client = await pool.connect()
      try {
        await client.query('BEGIN')
        for (const { table, topic } of found) {
          const [column, value] = topic === undefined ? ['pipeline_id', pipelineId] : ['topic', topic]
          await client.query(`DELETE FROM ${quotedName(table)} WHERE ${column} = $1`, [value])
        }
        await client.query('COMMIT')
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {})
        throw wrapError(error, `deleting pipeline "${pipelineId}"'s positions in ${display}`)
      } finally {
        client.release()
      }
    },
    close: () => pool.end(),
  }
}

async function find(pool: pg.Pool, offsets: TableName, pipelineId: string): Promise<SinkRowsFound> {
  const resolved = await resolve(pool, offsets)
  if (resolved === undefined) return { rows: [], elsewhere: await elsewhere(pool, offsets, pipelineId) }
  const schema = resolved.schema
  const present = async (name: string) => {
    const table = { schema, name }
    return (await exists(pool, table)) ? displayName(table) : undefined
  }
  const positions = [displayName(resolved), await present(`${resolved.name}_partitions`)]
  const rows = await pipelineRows(reader(pool), pipelineId, {
    positions: positions.filter((t) => t !== undefined),
    state: await present(CHANGELOG_TABLE),
    ends: await present(CHANGELOG_ENDS_TABLE),
  })
  return { rows, elsewhere: rows.length > 0 ? [] : await elsewhere(pool, offsets, pipelineId, schema) }
}

/** The PostgreSQL queries of pipelineRows(). */
function reader(pool: pg.Pool): SinkTablesReader {
  return {
    async countPerPipeline(table, pipelineId) {
      const found = await pool.query<{ pipeline_id: string; n: string }>(
        `SELECT pipeline_id, count(*) AS n FROM ${quotedName(table)} ` +
          'WHERE left(pipeline_id, char_length($1)) = $1 GROUP BY pipeline_id',
        [pipelineId],
      )
      return new Map(found.rows.map((r) => [r.pipeline_id, Number(r.n)]))
    },
    async topics(table, prefix) {
      const found = await pool.query<{ topic: string }>(
        `SELECT DISTINCT topic FROM ${quotedName(table)} WHERE left(topic, char_length($1)) = $1`,
        [prefix],
      )
      return found.rows.map((r) => r.topic)
    },
    async countTopic(table, topic) {
      const n = await pool.query<{ n: string }>(
        `SELECT count(*) AS n FROM ${quotedName(table)} WHERE topic = $1`,
        [topic],
      )
      return Number(n.rows[0]?.n ?? 0)
    },
  }
}

/** The table with its schema: as given, or the one the search path finds. Undefined when there is none. */
async function resolve(pool: pg.Pool, table: TableName): Promise<TableName | undefined> {
  const found = await pool.query<{ schema: string }>(
    'SELECT n.nspname AS schema FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace ' +
      'WHERE c.oid = to_regclass($1)',
    [qualified(table)],
  )
  const schema = found.rows[0]?.schema
  return schema === undefined ? undefined : { schema, name: table.name }
}

async function exists(pool: pg.Pool, table: TableName): Promise<boolean> {
  return (await resolve(pool, table)) !== undefined
}

/**
 * Offsets tables of the same name in other schemas that hold a row of the pipeline: a sink whose table is
 * schema-qualified keeps its offsets in that schema, which the search path may not reach.
 */
async function elsewhere(
  pool: pg.Pool,
  offsets: TableName,
  pipelineId: string,
  except?: string,
): Promise<string[]> {
  const schemas = await pool.query<{ schema: string }>(
    "SELECT table_schema AS schema FROM information_schema.tables WHERE table_name = $1 AND table_type = 'BASE TABLE'",
    [offsets.name],
  )
  const holding: string[] = []
  for (const { schema } of schemas.rows) {
    if (schema === except) continue
    const table = { schema, name: offsets.name }
    const row = await pool.query(`SELECT 1 FROM ${qualified(table)} WHERE pipeline_id = $1 LIMIT 1`, [
      pipelineId,
    ])
    if ((row.rowCount ?? 0) > 0) holding.push(displayName(table))
  }
  return holding.sort()
}

/** displayName() read back: the plan holds names for people, delete() quotes them again. */
function quotedName(display: string): string {
  return qualified(parseTableName(display))
}

/** host:port/database, without user or password. */
function describeUrl(url: string): string {
  try {
    const u = new URL(url)
    return `${u.host}${u.pathname}`
  } catch {
    throw new UsageError('--postgres: not a URL; expected postgres://user:password@host:5432/database.')
  }
}
