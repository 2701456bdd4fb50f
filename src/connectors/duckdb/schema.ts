/**
 * Table schemas: what DuckDB says a table has, what types rows imply, and whether the two fit.
 */
import type { DuckDBConnection, DuckDBType } from '@duckdb/node-api'
import { DuckDBTypeId } from '@duckdb/node-api'
import type { FieldType } from '../../plan/row-type.ts'
import { isoMicros } from './convert.ts'
import { quoteIdentifier } from './database.ts'

export interface TableColumn {
  readonly name: string
  /** DuckDB's name of the type, as duckdb_columns() reports it: BIGINT, TIMESTAMP WITH TIME ZONE, JSON, … */
  readonly sqlType: string
  readonly type: DuckDBType
  readonly nullable: boolean
  readonly hasDefault: boolean
}

export interface TableDescription {
  /** In table order (the appender's order). */
  readonly columns: readonly TableColumn[]
  /** Column sets of the PRIMARY KEY, UNIQUE constraints and unique indexes. */
  readonly uniqueKeys: readonly (readonly string[])[]
}

/** A qualified, quoted table name. */
export function tableName(schema: string, table: string): string {
  return `${quoteIdentifier(schema)}.${quoteIdentifier(table)}`
}

/** What DuckDB has for `schema.table`, or undefined when there is no such table. */
export async function describeTable(
  connection: DuckDBConnection,
  schema: string,
  table: string,
): Promise<TableDescription | undefined> {
  const columns = await connection.runAndReadAll(
    `SELECT column_name, data_type, is_nullable, column_default IS NOT NULL AS has_default
       FROM duckdb_columns()
      WHERE database_name = current_database() AND schema_name = $1 AND table_name = $2
      ORDER BY column_index`,
    [schema, table],
  )
  const rows = columns.getRowObjectsJS()
  if (rows.length === 0) return undefined
  const probe = await connection.runAndReadAll(`SELECT * FROM ${tableName(schema, table)} LIMIT 0`)
  const types = probe.columnTypes()
  const described: TableColumn[] = rows.map((r, i) => {
    const type = types[i]
    if (!type) throw new Error(`internal: no type for column ${String(r.column_name)}`)
    return {
      name: String(r.column_name),
      sqlType: String(r.data_type),
      type,
      nullable: r.is_nullable === true,
      hasDefault: r.has_default === true,
    }
  })
  const uniqueKeys: string[][] = []
  const constraints = await connection.runAndReadAll(
    `SELECT constraint_column_names FROM duckdb_constraints()
      WHERE database_name = current_database() AND schema_name = $1 AND table_name = $2
        AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')`,
    [schema, table],
  )
  for (const r of constraints.getRowObjectsJS()) {
    const names = r.constraint_column_names
    if (Array.isArray(names)) uniqueKeys.push(names.map(String))
  }
  const indexes = await connection.runAndReadAll(
    `SELECT expressions FROM duckdb_indexes()
      WHERE database_name = current_database() AND schema_name = $1 AND table_name = $2 AND is_unique`,
    [schema, table],
  )
  for (const r of indexes.getRowObjectsJS()) {
    // '[k, "window start"]': plain column references only.
    const text = String(r.expressions ?? '')
    const inner = text.replace(/^\[/, '').replace(/\]$/, '')
    uniqueKeys.push(
      inner.split(',').map((s) =>
        s
          .trim()
          .replace(/^"(.*)"$/, '$1')
          .replaceAll('""', '"'),
      ),
    )
  }
  return { columns: described, uniqueKeys }
}

/** What a JS value is, for column types and compatibility. */
export type Kind =
  | 'integer'
  | 'float'
  | 'bigint'
  | 'boolean'
  | 'timestamp'
  | 'date'
  | 'text'
  | 'bytes'
  | 'object'

export function kindOf(value: unknown): Kind | undefined {
  switch (typeof value) {
    case 'number':
      return Number.isInteger(value) ? 'integer' : 'float'
    case 'bigint':
      return 'bigint'
    case 'boolean':
      return 'boolean'
    case 'string':
      return isoMicros(value) !== undefined ? 'timestamp' : 'text'
    case 'object':
      if (value === null) return undefined
      if (value instanceof Date) return 'date'
      if (value instanceof Uint8Array) return 'bytes'
      return 'object'
    default:
      return undefined
  }
}

/**
 * The column type for values of these kinds when nothing declares one: the widest type for their kind,
 * never one guessed narrower from them. Every number is DOUBLE (a sum that is whole in the first batch is
 * not a BIGINT column), every string VARCHAR (an ISO timestamp today may be other text tomorrow); JS
 * bigints and Dates say what they are (HUGEINT, TIMESTAMPTZ). No kinds (only nulls): VARCHAR.
 */
export function inferSqlType(kinds: ReadonlySet<Kind>): string {
  const only = (...allowed: Kind[]) => [...kinds].every((k) => allowed.includes(k))
  if (kinds.size === 0) return 'VARCHAR'
  if (only('integer', 'float')) return 'DOUBLE'
  if (only('bigint', 'integer')) return 'HUGEINT'
  if (only('boolean')) return 'BOOLEAN'
  if (only('date')) return 'TIMESTAMP WITH TIME ZONE'
  if (only('timestamp', 'date', 'text')) return 'VARCHAR'
  if (only('bytes')) return 'BLOB'
  return 'JSON'
}

/** The column type for a field the plan's schema declares. */
export function declaredSqlType(type: FieldType): string {
  switch (type) {
    case 'integer':
      return 'BIGINT'
    case 'number':
      return 'DOUBLE'
    case 'timestamp':
      return 'TIMESTAMP WITH TIME ZONE'
    case 'string':
      return 'VARCHAR'
    case 'boolean':
      return 'BOOLEAN'
    case 'json':
      return 'JSON'
  }
}

export const INTEGER_TYPES = new Set<DuckDBTypeId>([
  DuckDBTypeId.TINYINT,
  DuckDBTypeId.SMALLINT,
  DuckDBTypeId.INTEGER,
  DuckDBTypeId.BIGINT,
  DuckDBTypeId.UTINYINT,
  DuckDBTypeId.USMALLINT,
  DuckDBTypeId.UINTEGER,
  DuckDBTypeId.UBIGINT,
  DuckDBTypeId.HUGEINT,
  DuckDBTypeId.UHUGEINT,
  DuckDBTypeId.BIGNUM,
])
const DECIMAL_TYPES = new Set<DuckDBTypeId>([DuckDBTypeId.FLOAT, DuckDBTypeId.DOUBLE, DuckDBTypeId.DECIMAL])
const TIME_TYPES = new Set<DuckDBTypeId>([
  DuckDBTypeId.TIMESTAMP,
  DuckDBTypeId.TIMESTAMP_TZ,
  DuckDBTypeId.TIMESTAMP_S,
  DuckDBTypeId.TIMESTAMP_MS,
  DuckDBTypeId.TIMESTAMP_NS,
])

/**
 * Whether a column of this type can hold values of this kind. Deliberately by family, not by value: a
 * column that cannot hold what the rows carry is a schema mismatch (UsageError before anything is written);
 * a single value that does not fit a fitting column is a bad row (dead-lettered with DuckDB's message). A
 * fraction for an integer column is a matter of single values too: the column is widened (the sink manages
 * the table) or the row refused, never rounded.
 */
export function accepts(column: TableColumn, kind: Kind): boolean {
  const id = column.type.typeId
  if (id === DuckDBTypeId.VARCHAR) return true // VARCHAR and JSON hold anything
  if (INTEGER_TYPES.has(id) || DECIMAL_TYPES.has(id))
    return kind === 'integer' || kind === 'float' || kind === 'bigint'
  if (id === DuckDBTypeId.BOOLEAN) return kind === 'boolean'
  if (id === DuckDBTypeId.DATE) return kind === 'timestamp' || kind === 'date' || kind === 'text'
  if (TIME_TYPES.has(id)) return kind === 'timestamp' || kind === 'date' || kind === 'integer'
  if (id === DuckDBTypeId.BLOB) return kind === 'bytes' || kind === 'text'
  if (id === DuckDBTypeId.UUID || id === DuckDBTypeId.ENUM) return kind === 'text'
  // Lists, structs, maps, intervals, times, …: DuckDB casts their text; objects and strings may fit.
  return kind === 'object' || kind === 'text'
}

export function describeKinds(kinds: ReadonlySet<Kind>): string {
  const names: Record<Kind, string> = {
    integer: 'whole numbers',
    float: 'fractional numbers',
    bigint: 'bigints',
    boolean: 'booleans',
    timestamp: 'ISO timestamps',
    date: 'Dates',
    text: 'text',
    bytes: 'bytes',
    object: 'objects',
  }
  return [...kinds].map((k) => names[k]).join(', ')
}
