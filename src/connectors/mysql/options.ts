import { UsageError } from '../../errors.ts'
import { DEFAULT_OFFSETS_TABLE, resolveSqlOptions, type SqlSinkOptions } from '../sql/index.ts'
import { PARTITIONS_SUFFIX } from './partition-offsets.ts'
import { checkColumnType } from './schema.ts'
import { checkIdentifier, parseMySqlUrl } from './sql.ts'

/** See README.md in this folder; the shared options are documented on SqlSinkOptions. */
export interface MySqlSinkOptions<T> extends SqlSinkOptions<T> {
  /** `mysql://user:password@host:3306/database` (or `mariadb://`). Default: `$MYSQL_URL`. */
  readonly url?: string
  /** The table rows go to, in the URL's database. Names are used exactly as written (always quoted). */
  readonly table: string
  /**
   * The row's identity: required for upsert, where the table needs a PRIMARY KEY or UNIQUE index on exactly
   * these columns. `createTable` makes it the primary key (in append mode too: a duplicate is a refused row).
   */
  readonly key?: readonly (keyof T & string)[]
  /** Column types for createTable and added columns, e.g. `{ revenue: 'DECIMAL(12, 2)' }`; others are inferred. */
  readonly columns?: { readonly [K in keyof T & string]?: string }
  /** Default false: a missing table or column is an error. Added columns are nullable. */
  readonly createTable?: boolean
  /** Default `sluice_dead_letters`. */
  readonly deadLetterTable?: string
  /** Each pipeline's committed batch and source positions. Default `sluice_offsets`. */
  readonly offsetsTable?: string
  /** Rows per INSERT at most (rounded down to a power of two). Default 2048. */
  readonly maxRowsPerStatement?: number
  /**
   * Lets instances of a pipeline share the source's partitions, each committing a position per partition
   * (table `<offsetsTable>_partitions`) in the batch's transaction, and a keyed pipeline's state changes
   * (tables `sluice_changelog`, `sluice_changelog_ends`) with them. Default true; false keeps one position for
   * the whole pipeline (one instance: a second one fences the first) and a keyed pipeline's state in its
   * checkpoint, as before the MariaDB/MySQL sink could scale.
   */
  readonly scaleOut?: boolean
}

/** The options checked, with their defaults. */
export interface MySqlSettings {
  readonly url: string | undefined
  readonly table: string
  readonly mode: 'append' | 'upsert'
  readonly key: readonly string[]
  /** Column → declared (checked) SQL type. */
  readonly declared: ReadonlyMap<string, string>
  readonly createTable: boolean
  readonly onError: 'dead-letter' | 'fail'
  readonly deadLetterTable: string
  readonly offsetsTable: string
  /** Rows per INSERT at most: a power of two. */
  readonly maxRows: number
  readonly scaleOut: boolean
}

export function resolveMySqlOptions<T>(options: MySqlSinkOptions<T>): MySqlSettings {
  const common = resolveSqlOptions('mysql', options, { keyInAppend: true })
  checkIdentifier(options.table, 'table')
  if (options.deadLetterTable !== undefined) checkIdentifier(options.deadLetterTable, 'deadLetterTable')
  const offsetsTable = options.offsetsTable ?? DEFAULT_OFFSETS_TABLE
  if (options.offsetsTable !== undefined) checkIdentifier(options.offsetsTable, 'offsetsTable')
  const scaleOut = options.scaleOut ?? true
  // The positions per partition are in a table named after it.
  if (scaleOut)
    checkIdentifier(`${offsetsTable}${PARTITIONS_SUFFIX}`, 'offsetsTable with "_partitions" added')
  for (const k of common.key) checkIdentifier(k, 'key column')
  const declared = new Map<string, string>()
  for (const [name, type] of Object.entries(options.columns ?? {})) {
    if (type === undefined) continue
    checkIdentifier(name, 'column')
    declared.set(name, checkColumnType(name, String(type)))
  }
  if (options.maxRowsPerStatement !== undefined && !(options.maxRowsPerStatement >= 1))
    throw new UsageError('mysql(): maxRowsPerStatement must be at least 1.')
  // Checked now, so a wrong URL shows at declaration.
  if (options.url !== undefined) parseMySqlUrl(options.url)
  return {
    url: options.url,
    table: common.table,
    mode: common.mode,
    key: common.key,
    declared,
    createTable: options.createTable ?? false,
    onError: common.onError,
    deadLetterTable: common.deadLetterTable,
    offsetsTable,
    maxRows: largestPowerOfTwo(options.maxRowsPerStatement ?? 2048),
    scaleOut,
  }
}

/** The options as describe() shows them: the URL without its password. */
export function describeOptions(settings: MySqlSettings): Record<string, unknown> {
  const url = settings.url !== undefined ? parseMySqlUrl(settings.url).redacted : undefined
  return {
    ...(url ? { url } : {}),
    table: settings.table,
    mode: settings.mode,
    ...(settings.key.length > 0 ? { key: settings.key } : {}),
    ...(settings.declared.size > 0 ? { columns: Object.fromEntries(settings.declared) } : {}),
    ...(settings.createTable ? { createTable: true } : {}),
    onError: settings.onError,
    deadLetterTable: settings.deadLetterTable,
    offsetsTable: settings.offsetsTable,
    ...(settings.scaleOut ? {} : { scaleOut: false }),
  }
}

export function largestPowerOfTwo(n: number): number {
  return 2 ** Math.floor(Math.log2(Math.max(1, n)))
}
