import type { FieldType, RowType } from '../../plan/row-type.ts'

/**
 * Parquet columns for rows of plain objects, chosen per file so that a row read back equals the row written:
 * top-level fields become columns; numbers DOUBLE (a JS number is a double, so nothing is lost, and every
 * file of a table agrees: a file whose sums happen to be whole is not INT32 beside files of DOUBLE, which
 * readers of the folder would cast to the first file's type), INT64 where the plan's schema says integer;
 * strings, booleans, bigints (INT64), Dates (TIMESTAMP_MILLIS); objects, arrays and fields whose values mix
 * types are stored as JSON text. Files of earlier versions may have INT32 columns; they read back the same. What
 * Parquet cannot say by itself is recorded in the file's key-value metadata under `sluice.columns`: which
 * columns hold JSON, and whether an absent value was a missing field or an explicit null. When one file has
 * both for a column, an extra column `__sluice_missing` lists per row the fields that were missing.
 */

/**
 * `int32`: written by earlier versions only. `int64`: JS numbers the schema declares integer (read back as
 * numbers); `bigint`: JS bigints (read back as bigints).
 */
export type ColumnKind = 'boolean' | 'int32' | 'int64' | 'double' | 'bigint' | 'string' | 'timestamp' | 'json'

export interface ColumnSpec {
  readonly name: string
  readonly kind: ColumnKind
  /**
   * How rows without a value come back: without the field ("omit"), with null ("null"), or as the row's
   * `__sluice_missing` list says ("mixed").
   */
  readonly absent: 'omit' | 'null' | 'mixed'
}

export const COLUMNS_METADATA_KEY = 'sluice.columns'
/** The extra column naming, per row, the "mixed" fields that were missing (JSON array, null for none). */
export const MISSING_COLUMN = '__sluice_missing'

type Row = Readonly<Record<string, unknown>>

/** The column kind a value needs; `declared`: what the plan's schema says of its field. */
export function kindOf(value: unknown, declared: FieldType | undefined): ColumnKind {
  switch (typeof value) {
    case 'boolean':
      return 'boolean'
    case 'number':
      return declared === 'integer' && Number.isSafeInteger(value) && !Object.is(value, -0)
        ? 'int64'
        : 'double'
    case 'bigint':
      return BigInt.asIntN(64, value) === value ? 'bigint' : 'json'
    case 'string':
      return 'string'
    default:
      return value instanceof Date && !Number.isNaN(value.getTime()) ? 'timestamp' : 'json'
  }
}

const NUMBERS = new Set<ColumnKind>(['int32', 'int64', 'double'])

function merge(a: ColumnKind | undefined, b: ColumnKind): ColumnKind {
  if (a === undefined || a === b) return b
  if (NUMBERS.has(a) && NUMBERS.has(b)) return a === 'double' || b === 'double' ? 'double' : 'int64'
  return 'json'
}

/** What the rows of one file (or spooled batch) say about a column, before its kind is fixed. */
export interface ColumnStats {
  readonly name: string
  /** Undefined when no row had a value other than null. */
  readonly kind: ColumnKind | undefined
  /** Some row had an explicit null. */
  readonly nulls: boolean
  /** Some row lacked the field (or had undefined). */
  readonly missing: boolean
}

/** Column statistics of `rows`, in the order fields first appear; `rowType`: what the plan's schema declares. */
export function columnStats(rows: readonly Row[], rowType?: RowType): ColumnStats[] {
  const declared = rowType?.fields
  const kinds = new Map<string, ColumnKind | undefined>()
  const nulls = new Set<string>()
  const present = new Map<string, number>()
  for (const row of rows) {
    for (const name in row) {
      if (!Object.hasOwn(row, name)) continue
      const value = row[name]
      if (!kinds.has(name)) kinds.set(name, undefined)
      if (value === undefined) continue
      present.set(name, (present.get(name) ?? 0) + 1)
      if (value === null) nulls.add(name)
      else kinds.set(name, merge(kinds.get(name), kindOf(value, declared?.get(name))))
    }
  }
  return [...kinds].map(([name, kind]) => ({
    name,
    kind,
    nulls: nulls.has(name),
    missing: (present.get(name) ?? 0) < rows.length,
  }))
}

/**
 * The statistics of several row sets together (spooled batches merged into one file): kinds merge as within
 * one set, and a column that a set with rows does not have at all is missing in those rows.
 */
export function mergeColumnStats(
  parts: readonly { readonly stats: readonly ColumnStats[]; readonly rows: number }[],
): ColumnStats[] {
  const out = new Map<string, { kind: ColumnKind | undefined; nulls: boolean; missing: boolean }>()
  for (const part of parts) {
    for (const column of part.stats) {
      const seen = out.get(column.name)
      if (!seen) out.set(column.name, { ...column, missing: column.missing })
      else {
        if (column.kind !== undefined) seen.kind = merge(seen.kind, column.kind)
        seen.nulls ||= column.nulls
        seen.missing ||= column.missing
      }
    }
  }
  for (const [name, column] of out) {
    if (parts.some((p) => p.rows > 0 && !p.stats.some((c) => c.name === name))) column.missing = true
  }
  return [...out].map(([name, c]) => ({ name, ...c }))
}

/** The Parquet columns for rows with these statistics. */
export function columnsFromStats(stats: readonly ColumnStats[]): ColumnSpec[] {
  const out: ColumnSpec[] = stats.map((c) => ({
    name: c.name,
    kind: c.kind ?? 'string',
    absent: !c.missing ? 'null' : c.nulls ? 'mixed' : 'omit',
  }))
  if (out.some((c) => c.absent === 'mixed')) out.push({ name: MISSING_COLUMN, kind: 'json', absent: 'omit' })
  return out
}

/** The columns of `rows`, in the order fields first appear. */
export function inferColumns(rows: readonly Row[], rowType?: RowType): ColumnSpec[] {
  return columnsFromStats(columnStats(rows, rowType))
}

/** A row's value of `column` as stored (see storedValue), the missing-fields column included. */
export function columnValue(columns: readonly ColumnSpec[], column: ColumnSpec, row: Row): unknown {
  if (column.name !== MISSING_COLUMN) return storedValue(column, row[column.name])
  const missing: string[] = []
  for (const c of columns) if (c.absent === 'mixed' && row[c.name] === undefined) missing.push(c.name)
  return missing.length > 0 ? JSON.stringify(missing) : null
}

/** A column's value as stored: JSON columns hold text, others the value itself; null when absent. */
export function storedValue(column: ColumnSpec, value: unknown): unknown {
  if (value === null || value === undefined) return null
  if (column.kind === 'int64') return typeof value === 'number' ? BigInt(value) : value
  if (column.kind !== 'json') return value
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? null
}

/** Turns rows as decoded from a file back into the rows that were written. */
export function restoreRows(
  rows: Record<string, unknown>[],
  columns: readonly ColumnSpec[] | undefined,
): void {
  if (!columns) return
  const json = columns.filter((c) => c.kind === 'json').map((c) => c.name)
  const int64 = columns.filter((c) => c.kind === 'int64').map((c) => c.name)
  const omit = columns.filter((c) => c.absent === 'omit').map((c) => c.name)
  const mixed = columns.some((c) => c.absent === 'mixed')
  if (json.length === 0 && omit.length === 0 && int64.length === 0) return
  for (const row of rows) {
    for (const name of int64) {
      const v = row[name]
      if (typeof v === 'bigint') row[name] = Number(v)
    }
    for (const name of json) {
      const text = row[name]
      if (typeof text === 'string') row[name] = JSON.parse(text)
    }
    for (const name of omit) if (row[name] === null || row[name] === undefined) delete row[name]
    if (mixed) {
      const missing = row[MISSING_COLUMN]
      if (Array.isArray(missing)) for (const name of missing) delete row[name]
      delete row[MISSING_COLUMN]
    }
  }
}

export function parseColumnsMetadata(text: string | undefined): ColumnSpec[] | undefined {
  if (!text) return undefined
  const parsed: unknown = JSON.parse(text)
  return Array.isArray(parsed) ? (parsed as ColumnSpec[]) : undefined
}
