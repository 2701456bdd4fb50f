import { UsageError } from '../../errors.ts'
import { resolveSqlOptions, type SqlSinkOptions } from '../sql/index.ts'
import { databaseKey } from './database.ts'
import { OFFSETS_TABLE } from './offsets.ts'

/** See README.md in this folder; the shared options are documented on SqlSinkOptions. */
export interface DuckDBSinkOptions<T> extends SqlSinkOptions<T> {
  /** A database file (created with its directory when missing), ':memory:', or ':memory:<name>' to share one. */
  readonly path: string
  readonly table: string
  /** Default 'main'. */
  readonly schema?: string
  /** Upsert key: the columns of the table's PRIMARY KEY (or a UNIQUE constraint) that identify a row. */
  readonly key?: readonly (keyof T & string)[]
  /**
   * Columns and their DuckDB types, e.g. `{ page: 'VARCHAR', views: 'BIGINT' }`: only these fields are written.
   * Without it the columns are inferred from the rows, and new fields become new columns.
   */
  readonly columns?: Readonly<Record<string, string>>
  /** Create the table (and evolve it as rows gain fields) when missing. Default true. */
  readonly createTable?: boolean
  /** Default 'sluice_dead_letters', in the table's schema. */
  readonly deadLetterTable?: string
  /**
   * The most columns the sink gives the table (default 1600): a row whose new fields would pass it is a dead
   * letter. PostgreSQL's own limit, so a table that fits here fits there too; DuckDB itself has none, but
   * a table's DDL and every batch's appender grow with its width (2000 columns: about 1.2 s per 100-row
   * batch, 8000: 8.6 s), so a record with 100,000 fields must not become 100,000 columns.
   */
  readonly maxColumns?: number
}

/** The options checked, with their defaults. */
export interface DuckDBSettings {
  readonly location: string
  /** The shared database's identity (the resolved path, or the :memory: name). */
  readonly key: string
  readonly schema: string
  readonly table: string
  readonly mode: 'append' | 'upsert'
  readonly keyColumns: readonly string[]
  readonly columns: Readonly<Record<string, string>> | undefined
  readonly createTable: boolean
  readonly onError: 'dead-letter' | 'fail'
  readonly deadLetterTable: string
  /** The sink may create the table and add or widen its columns. */
  readonly managed: boolean
  /** Columns the sink gives the table at most. */
  readonly maxColumns: number
}

/** Default of `maxColumns`: PostgreSQL's limit (see DuckDBSinkOptions.maxColumns). */
export const DEFAULT_MAX_COLUMNS = 1600

export function resolveDuckDBOptions<T>(options: DuckDBSinkOptions<T>): DuckDBSettings {
  if (!options?.path) throw new UsageError('duckdb(): a path is required (a file, or ":memory:").')
  const common = resolveSqlOptions('duckdb', options, { keyInAppend: false })
  const keyColumns = common.key
  if (options.columns) {
    if (Object.keys(options.columns).length === 0) throw new UsageError('duckdb(): columns is empty.')
    for (const k of keyColumns)
      if (!(k in options.columns)) throw new UsageError(`duckdb(): the key column "${k}" is not in columns.`)
  }
  const createTable = options.createTable ?? true
  const maxColumns = options.maxColumns ?? DEFAULT_MAX_COLUMNS
  if (!Number.isSafeInteger(maxColumns) || maxColumns < 1)
    throw new UsageError(`duckdb(): maxColumns must be a positive whole number, not ${String(maxColumns)}.`)
  const settings: DuckDBSettings = {
    location: options.path,
    key: databaseKey(options.path),
    schema: options.schema ?? 'main',
    table: common.table,
    mode: common.mode,
    keyColumns,
    columns: options.columns,
    createTable,
    onError: common.onError,
    deadLetterTable: common.deadLetterTable,
    managed: createTable && !options.columns,
    maxColumns,
  }
  if (settings.deadLetterTable === settings.table || settings.table === OFFSETS_TABLE)
    throw new UsageError(`duckdb(): table "${settings.table}" is reserved for Sluice's bookkeeping.`)
  return settings
}

/** The options as describe() shows them. */
export function describeOptions(settings: DuckDBSettings): Record<string, unknown> {
  return {
    path: settings.location,
    ...(settings.schema !== 'main' ? { schema: settings.schema } : {}),
    table: settings.table,
    mode: settings.mode,
    ...(settings.keyColumns.length > 0 ? { key: settings.keyColumns } : {}),
    ...(settings.columns ? { columns: settings.columns } : {}),
    deadLetterTable: settings.deadLetterTable,
  }
}
