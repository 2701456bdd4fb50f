import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import pg from 'pg'
import { liveDataFiles } from '../connectors/lake/iceberg/live-files.ts'
import { type OpenTable, openTable } from '../connectors/lake/iceberg/open-table.ts'
import { CommitLog } from '../connectors/lake/log.ts'
import { LocalLakeStorage } from '../connectors/lake/storage.ts'
import { SluiceError } from '../errors.ts'
import type { DemoOutputs } from './demo-pipelines.ts'
import { describeWarehouse, type Warehouse } from './warehouse.ts'
import { queryRunningJob, type RunQuery } from './warehouse-endpoint.ts'

export type QueryRow = Record<string, unknown>

/**
 * Runs SQL against the main job's results. DuckDB: the warehouse file read-only, plus a view `events` over
 * the lake's committed Parquet files (partition columns included). PostgreSQL: the warehouse only.
 */
export async function queryResults(
  warehouse: Warehouse,
  sql: string,
  options: { readonly lake?: Pick<DemoOutputs, 'lake' | 'lakePath'> } = {},
): Promise<readonly QueryRow[]> {
  try {
    return warehouse.kind === 'duckdb'
      ? await queryDuckDB(warehouse.path, options.lake, sql)
      : await queryPostgres(warehouse.url, sql)
  } catch (error) {
    const table = missingTable(error)
    if (table === undefined) throw error
    throw new SluiceError(
      'SLUICE_NO_WAREHOUSE',
      `no warehouse yet: ${describeWarehouse(warehouse)} has no table ${table}. Run the job first (npm start), or point the query at a warehouse that has it (--data-dir DIR, --duckdb FILE, --postgres URL).`,
      // Not the database's own text as cause: DuckDB's suggests a system table ("Did you mean pg_am?").
      { domain: 'user' },
    )
  }
}

/** The table a query named that the database does not have (DuckDB's catalog error, PostgreSQL's 42P01). */
function missingTable(error: unknown): string | undefined {
  const cause = error instanceof SluiceError ? error.cause : error
  if ((cause as { code?: unknown } | null)?.code === '42P01')
    return /relation "([^"]+)" does not exist/.exec(String((cause as Error).message))?.[1] ?? 'it names'
  return /Table with name (\S+) does not exist/.exec(cause instanceof Error ? cause.message : '')?.[1]
}

async function queryDuckDB(
  path: string,
  lake: Pick<DemoOutputs, 'lake' | 'lakePath'> | undefined,
  sql: string,
): Promise<readonly QueryRow[]> {
  let instance: DuckDBInstance
  try {
    instance = existsSync(path)
      ? await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' })
      : await DuckDBInstance.create(':memory:')
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    if (/lock/i.test(message)) {
      // The job writing the file answers read-only queries itself (src/app/warehouse-endpoint.ts).
      const rows = await queryRunningJob(path, sql)
      if (rows) return rows
      throw new SluiceError(
        'SLUICE_WAREHOUSE_BUSY',
        `${path} is open in another process that does not answer queries (DuckDB lets one process write a database file): stop it first, or set DATABASE_URL to use PostgreSQL.`,
        { domain: 'user', cause: error },
      )
    }
    throw error
  }
  const connection = await instance.connect()
  try {
    return await duckdbQuery(lake)(connection, sql)
  } catch (error) {
    throw queryFailed(error)
  } finally {
    connection.closeSync()
    instance.closeSync()
  }
}

/** Runs a query on a warehouse connection, with the view `events` over the lake's committed files. */
export function duckdbQuery(lake: Pick<DemoOutputs, 'lake' | 'lakePath'> | undefined): RunQuery {
  return async (connection, sql) => {
    const iceberg = lake?.lake.format === 'iceberg'
    const files = !lake ? [] : iceberg ? await icebergFiles(lake) : await committedFiles(lake.lakePath)
    if (files.length > 0) {
      const list = files.map((f) => `'${f.replaceAll("'", "''")}'`).join(', ')
      // Iceberg data files hold their partition columns; the Parquet lake's are in the folder names only.
      await connection.run(
        `CREATE OR REPLACE TEMP VIEW events AS SELECT * FROM read_parquet([${list}], hive_partitioning = ${!iceberg}, union_by_name = true)`,
      )
    }
    const reader = await connection.runAndReadAll(sql)
    return reader.getRowObjectsJS() as QueryRow[]
  }
}

/** The lake's data files as its commit log lists them: never a file of an unfinished batch or roll. */
async function committedFiles(lakePath: string): Promise<string[]> {
  if (!existsSync(lakePath)) return []
  const log = new CommitLog(new LocalLakeStorage(lakePath))
  const files: string[] = []
  for (const version of await log.versions()) {
    const entry = await log.read(version)
    if (entry?.format === 'parquet') for (const file of entry.files) files.push(join(lakePath, file.path))
  }
  return files
}

/**
 * The data files of the Iceberg table's current snapshot, from its manifests: what an Iceberg reader reads
 * (Sluice's tables are append-only and have no delete files; a table that has some is refused).
 */
async function icebergFiles(outputs: Pick<DemoOutputs, 'lake' | 'lakePath'>): Promise<string[]> {
  const { lake } = outputs
  if (lake.format !== 'iceberg' || !existsSync(lake.catalog)) return []
  let table: OpenTable
  try {
    table = await openTable({ sqlite: lake.catalog, table: lake.table })
  } catch (error) {
    if (error instanceof SluiceError && error.code === 'SLUICE_ICEBERG_NO_TABLE') return []
    throw error
  }
  try {
    const live = await liveDataFiles(table.files, table.metadata)
    return live.map((file) => table.storage.localPath?.(table.files.key(file.path)) ?? file.path)
  } finally {
    table.catalog.close()
  }
}

async function queryPostgres(url: string, sql: string): Promise<readonly QueryRow[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query(sql)).rows as QueryRow[]
  } catch (error) {
    throw queryFailed(error)
  } finally {
    await client.end()
  }
}

function queryFailed(error: unknown): SluiceError {
  const message = error instanceof Error ? error.message : String(error)
  return new SluiceError('SLUICE_QUERY', `query failed: ${message}`, { domain: 'user', cause: error })
}

/** Rows as an aligned text table, the way a SQL shell prints them. */
export function formatTable(rows: readonly QueryRow[]): string {
  if (rows.length === 0) return '(no rows)\n'
  const columns = Object.keys(rows[0]!)
  const cells = rows.map((row) => columns.map((c) => formatCell(row[c])))
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)))
  const line = (values: readonly string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd()
  return `${[line(columns), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n')}\n(${rows.length} row${rows.length === 1 ? '' : 's'})\n`
}

function formatCell(value: unknown): string {
  if (value === null || value === undefined) return ''
  if (value instanceof Date) return value.toISOString()
  if (typeof value === 'object')
    return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? String(v) : v))
  return String(value)
}
