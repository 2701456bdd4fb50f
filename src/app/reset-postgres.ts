import pg from 'pg'
import { wrapError } from '../connectors/postgres/errors.ts'
import { displayName, parseTableName, qualified, type TableName } from '../connectors/postgres/identifiers.ts'
import { DEFAULT_OFFSETS_TABLE } from '../connectors/sql/index.ts'
import { UsageError } from '../errors.ts'
import { ownChangelogs, type PipelineRows, type SinkDatabase, type SinkRowsFound } from './reset-sink-rows.ts'

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
  const partitions: TableName = { schema, name: `${resolved.name}_partitions` }
  const state: TableName = { schema, name: 'sluice_changelog' }
  const ends: TableName = { schema, name: 'sluice_changelog_ends' }
  const rows: PipelineRows[] = []
  const otherIds = new Set<string>()
  for (const table of [resolved, partitions]) {
    if (!(await exists(pool, table))) continue
    const found = await pool.query<{ pipeline_id: string; n: string }>(
      `SELECT pipeline_id, count(*) AS n FROM ${qualified(table)} ` +
        'WHERE left(pipeline_id, char_length($1)) = $1 GROUP BY pipeline_id',
      [pipelineId],
    )
    for (const r of found.rows)
      if (r.pipeline_id === pipelineId) rows.push({ table: displayName(table), rows: Number(r.n) })
      else otherIds.add(r.pipeline_id)
  }
  if (await exists(pool, ends)) {
    const candidates = await pool.query<{ topic: string }>(
      `SELECT DISTINCT topic FROM ${qualified(ends)} WHERE left(topic, char_length($1)) = $1`,
      [`${pipelineId}-`],
    )
    const topics = ownChangelogs(
      pipelineId,
      candidates.rows.map((r) => r.topic),
      [...otherIds],
    )
    const stateExists = await exists(pool, state)
    for (const topic of topics) {
      for (const table of stateExists ? [state, ends] : [ends]) {
        const n = await pool.query<{ n: string }>(
          `SELECT count(*) AS n FROM ${qualified(table)} WHERE topic = $1`,
          [topic],
        )
        const count = Number(n.rows[0]?.n ?? 0)
        if (count > 0) rows.push({ table: displayName(table), rows: count, topic })
      }
    }
  }
  return { rows, elsewhere: rows.length > 0 ? [] : await elsewhere(pool, offsets, pipelineId, schema) }
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
