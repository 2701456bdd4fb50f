import { DEFAULT_OFFSETS_TABLE, resolveSqlOptions, type SqlSinkOptions } from '../sql/index.ts'
import { checkTypeName, type PgColumnType } from './columns.ts'
import { displayName, parseTableName, sibling, type TableName } from './identifiers.ts'

/** See README.md in this folder; the shared options are documented on SqlSinkOptions. */
export interface PostgresSinkOptions<T> extends SqlSinkOptions<T> {
  /** Connection URL. Default: $DATABASE_URL. */
  readonly url?: string
  /** Target table, optionally schema-qualified: "analytics.page_metrics". Names are used exactly as written. */
  readonly table: string
  /** Column types for createTable (and for added columns); fields not listed are inferred from the rows. */
  readonly columns?: { readonly [K in keyof T & string]?: PgColumnType }
  /** Default false: a missing table or column is an error. */
  readonly createTable?: boolean
  /** Default "sluice_dead_letters", next to the table. */
  readonly deadLetterTable?: string
  /** Where the pipeline's committed position is kept. Default "sluice_offsets", next to the table. */
  readonly offsetsTable?: string
  /**
   * Lets instances of the pipeline share the source's partitions, each committing a position per partition
   * (table `<offsetsTable>_partitions`) and, for keyed steps, their state changes (tables `sluice_changelog`
   * and `sluice_changelog_ends`) in the batch's transaction. Default true; false keeps one position for the
   * whole pipeline and its state in the checkpoint (one instance: a second one fences the first), as before
   * the PostgreSQL sink could scale.
   */
  readonly scaleOut?: boolean
}

/** The options checked, with their defaults and the table names parsed. */
export interface PostgresSettings {
  readonly url: string | undefined
  readonly table: TableName
  readonly offsets: TableName
  readonly deadLetters: TableName
  readonly mode: 'append' | 'upsert'
  readonly key: readonly string[]
  /** Column → declared (checked) type name. */
  readonly declared: ReadonlyMap<string, string>
  readonly createTable: boolean
  readonly onError: 'dead-letter' | 'fail'
  readonly scaleOut: boolean
}

export function resolvePostgresOptions<T>(options: PostgresSinkOptions<T>): PostgresSettings {
  const common = resolveSqlOptions('postgres', options, { keyInAppend: false })
  const declared = new Map<string, string>()
  for (const [name, type] of Object.entries(options.columns ?? {}))
    if (typeof type === 'string') declared.set(name, checkTypeName(name, type))
  const table = parseTableName(options.table)
  return {
    url: options.url,
    table,
    offsets: sibling(table, options.offsetsTable ?? DEFAULT_OFFSETS_TABLE),
    deadLetters: sibling(table, common.deadLetterTable),
    mode: common.mode,
    key: common.key,
    declared,
    createTable: options.createTable ?? false,
    onError: common.onError,
    scaleOut: options.scaleOut ?? true,
  }
}

/** The options as describe() shows them: no URL (it may hold a password). */
export function describeOptions(settings: PostgresSettings): Record<string, unknown> {
  return {
    table: displayName(settings.table),
    mode: settings.mode,
    ...(settings.key.length > 0 ? { key: settings.key } : {}),
    createTable: settings.createTable,
    onError: settings.onError,
    deadLetterTable: displayName(settings.deadLetters),
    ...(settings.scaleOut ? {} : { scaleOut: false }),
  }
}
