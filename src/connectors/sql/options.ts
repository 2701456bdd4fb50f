import { UsageError } from '../../errors.ts'

/**
 * The options every SQL sink takes (`postgres()`, `mysql()`, `duckdb()`); each adds its own (the database,
 * column types, …) and documents where its defaults differ.
 */
export interface SqlSinkOptions<T> {
  /** The table rows go to. Names are used exactly as written (always quoted). */
  readonly table: string
  /**
   * 'append' (default) adds every row; 'upsert' inserts or updates by `key`, for windowed aggregates in
   * update mode, where a window's row is emitted again as it changes.
   */
  readonly mode?: 'append' | 'upsert'
  /** The columns that identify a row, required for upsert: `['key', 'window_start']`. */
  readonly key?: readonly (keyof T & string)[]
  /**
   * Create the table when it is missing (from `columns` and the first rows, `key` as the primary key) and
   * add columns for new fields.
   */
  readonly createTable?: boolean
  /**
   * A row the table refuses (NULL in a NOT NULL column, a value too long, a wrong type, a constraint):
   * 'dead-letter' (default) writes it to the dead-letter table with the database's message and commits the
   * rest of the batch; 'fail' stops the pipeline with the message, nothing of the batch written.
   */
  readonly onError?: 'dead-letter' | 'fail'
  /** Dead letters of the pipeline (parse failures, …) and refused rows, in the same transaction. */
  readonly deadLetterTable?: string
}

/** Where the dead letters and the committed positions go unless the options say otherwise. */
export const DEFAULT_DEAD_LETTER_TABLE = 'sluice_dead_letters'
export const DEFAULT_OFFSETS_TABLE = 'sluice_offsets'

/** The shared options, checked and with their defaults. */
export interface SqlSinkSettings {
  readonly table: string
  readonly mode: 'append' | 'upsert'
  readonly key: readonly string[]
  readonly onError: 'dead-letter' | 'fail'
  readonly deadLetterTable: string
}

export interface SqlOptionRules {
  /**
   * Whether append mode takes a key: MySQL's createTable makes it the primary key (a duplicate is a refused
   * row); PostgreSQL and DuckDB write every row and refuse a key as a mistake.
   */
  readonly keyInAppend: boolean
}

/**
 * Checks the shared options once, when the sink is declared, so a mistake shows before anything runs.
 * `sink` is the factory's name for the messages: "postgres", "mysql", "duckdb".
 */
export function resolveSqlOptions<T>(
  sink: string,
  options: SqlSinkOptions<T> | undefined,
  rules: SqlOptionRules,
): SqlSinkSettings {
  if (!options || typeof options.table !== 'string' || options.table.trim() === '')
    throw new UsageError(`${sink}(): a table is required, e.g. ${sink}({ table: "page_metrics" }).`)
  const mode = options.mode ?? 'append'
  if (mode !== 'append' && mode !== 'upsert')
    throw new UsageError(`${sink}(): mode must be 'append' or 'upsert', not ${JSON.stringify(mode)}.`)
  const onError = options.onError ?? 'dead-letter'
  if (onError !== 'dead-letter' && onError !== 'fail')
    throw new UsageError(
      `${sink}(): onError must be 'dead-letter' or 'fail', not ${JSON.stringify(onError)}.`,
    )
  const key: string[] = [...(options.key ?? [])]
  if (mode === 'upsert' && key.length === 0)
    throw new UsageError(
      `${sink}(): mode 'upsert' needs key, the columns that identify a row, e.g. key: ["key", "window_start"].`,
    )
  if (mode === 'append' && key.length > 0 && !rules.keyInAppend)
    throw new UsageError(`${sink}(): key is for mode 'upsert'; append writes every row.`)
  return {
    table: options.table,
    mode,
    key,
    onError,
    deadLetterTable: options.deadLetterTable ?? DEFAULT_DEAD_LETTER_TABLE,
  }
}
