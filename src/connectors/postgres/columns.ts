import { UsageError } from '../../errors.ts'
import type { FieldType } from '../../plan/row-type.ts'

/**
 * Column types: what rows need, what a table has, whether they fit, and how a value is written (COPY text
 * format).
 */

/** A PostgreSQL type for `columns` / createTable: the common ones by name, or any type name SQL accepts. */
export type PgColumnType =
  | 'text'
  | 'bigint'
  | 'integer'
  | 'smallint'
  | 'double precision'
  | 'real'
  | 'numeric'
  | 'boolean'
  | 'timestamptz'
  | 'timestamp'
  | 'date'
  | 'jsonb'
  | 'json'
  | 'uuid'
  | 'bytea'
  | `varchar(${number})`
  | `numeric(${number}, ${number})`
  | (string & {})

/** A column as the table has it (from pg_catalog). */
export interface TableColumn {
  readonly name: string
  /** format_type(): "character varying(5)", "timestamp with time zone", "bigint", … */
  readonly type: string
  /** pg_type.typname of the base type: int8, varchar, jsonb, … */
  readonly typname: string
  /** pg_type.typcategory: N numeric, S string, B boolean, D date/time, U user (json), A array, E enum, … */
  readonly category: string
  readonly notNull: boolean
}

/** The kinds of JavaScript values a column holds in a batch. */
export type ValueKind = 'integer' | 'float' | 'bigint' | 'string' | 'boolean' | 'date' | 'bytes' | 'json'

export function kindOf(value: unknown): ValueKind | undefined {
  switch (typeof value) {
    case 'undefined':
      return undefined
    case 'number':
      return Number.isInteger(value) ? 'integer' : 'float'
    case 'bigint':
      return 'bigint'
    case 'string':
      return 'string'
    case 'boolean':
      return 'boolean'
    case 'object':
      if (value === null) return undefined
      if (value instanceof Date) return 'date'
      if (value instanceof Uint8Array) return 'bytes'
      return 'json'
    default:
      return 'json'
  }
}

/**
 * The type createTable gives a field without a declared type: the widest type for the kind of its values,
 * never one guessed narrower from them. Every number is `double precision` (a JSON number is a double; a sum
 * that is whole in the first batch is not an integer column), every string `text` (a string that looks like
 * a timestamp today may not tomorrow). Null-only fields: undefined (no column yet).
 */
export function widestType(kinds: ReadonlySet<ValueKind>): string | undefined {
  if (kinds.size === 0) return undefined
  const only = (...allowed: ValueKind[]) => [...kinds].every((k) => allowed.includes(k))
  if (only('integer', 'float')) return 'double precision'
  if (only('bigint', 'integer', 'float')) return 'numeric'
  if (only('date')) return 'timestamptz'
  if (only('string', 'date')) return 'text'
  if (only('boolean')) return 'boolean'
  if (only('bytes')) return 'bytea'
  return 'jsonb'
}

/** The column type for a field the plan's schema declares. */
export function declaredType(type: FieldType): string {
  switch (type) {
    case 'integer':
      return 'bigint'
    case 'number':
      return 'double precision'
    case 'timestamp':
      return 'timestamptz'
    case 'string':
      return 'text'
    case 'boolean':
      return 'boolean'
    case 'json':
      return 'jsonb'
  }
}

/** Integer columns: a fraction cannot go in (PostgreSQL would refuse it, "invalid input syntax"). */
export function isIntegerColumn(column: TableColumn): boolean {
  return column.typname === 'int2' || column.typname === 'int4' || column.typname === 'int8'
}

function isJson(column: TableColumn): boolean {
  return column.typname === 'json' || column.typname === 'jsonb'
}

/**
 * Whether values of this kind can go into the column. Strings go anywhere (every PostgreSQL type reads its
 * text form; a string the column cannot read is a bad row, dead-lettered with the database's message);
 * numbers, booleans, objects need a column of their family, so a numeric field meeting a text column is a
 * mistake in the table, reported before anything is written. A fraction meeting an integer column is a
 * matter of single values (a sum that was whole so far): the column is widened or the row dead-lettered.
 */
export function fits(kind: ValueKind, column: TableColumn): boolean {
  if (isJson(column)) return true
  switch (kind) {
    case 'string':
      return true
    case 'integer':
    case 'bigint':
    case 'float':
      return column.category === 'N'
    case 'boolean':
      return column.category === 'B'
    case 'date':
      return column.category === 'D' || column.category === 'S'
    case 'bytes':
      return column.typname === 'bytea'
    case 'json':
      return false
  }
}

/** Type names allowed in `columns` (they go into CREATE TABLE text, so they are checked, not trusted). */
const TYPE_NAME = /^[A-Za-z_][A-Za-z0-9_ ]*(\(\s*\d+\s*(,\s*\d+\s*)?\))?( with(out)? time zone)?(\[\])*$/

export function checkTypeName(column: string, type: string): string {
  const trimmed = type.trim()
  if (!TYPE_NAME.test(trimmed))
    throw new UsageError(
      `postgres(): column ${column}: ${JSON.stringify(type)} is not a PostgreSQL type name.`,
    )
  return trimmed
}

/** Encodes one value for COPY … FROM STDIN in text format (tab-separated, \N for null). */
export function encodeValue(value: unknown, json: boolean): string {
  if (value === null || value === undefined) return '\\N'
  let text: string
  if (json) text = JSON.stringify(value, jsonReplacer) ?? 'null'
  else {
    switch (typeof value) {
      case 'string':
        text = value
        break
      case 'number':
        text = Number.isFinite(value)
          ? String(value)
          : Number.isNaN(value)
            ? 'NaN'
            : value > 0
              ? 'Infinity'
              : '-Infinity'
        break
      case 'boolean':
        return value ? 't' : 'f'
      case 'bigint':
        return value.toString()
      default:
        if (value instanceof Date) return value.toISOString()
        if (value instanceof Uint8Array) return `\\\\x${Buffer.from(value).toString('hex')}`
        text = JSON.stringify(value, jsonReplacer) ?? 'null'
    }
  }
  return escapeCopyText(text)
}

/** JSON for rows: bigints as strings of digits, buffers as base64. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString()
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64')
  if (
    value !== null &&
    typeof value === 'object' &&
    'type' in value &&
    (value as { type: unknown }).type === 'Buffer' &&
    'data' in value &&
    Array.isArray((value as { data: unknown }).data)
  )
    return Buffer.from((value as { data: number[] }).data).toString('base64')
  return value
}

const SPECIAL = /[\\\t\n\r]/

/** COPY text format: backslash, tab, newline and carriage return are escaped; everything else is data. */
export function escapeCopyText(text: string): string {
  if (!SPECIAL.test(text)) return text
  let out = ''
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]
    if (ch === '\\') out += '\\\\'
    else if (ch === '\t') out += '\\t'
    else if (ch === '\n') out += '\\n'
    else if (ch === '\r') out += '\\r'
    else out += ch
  }
  return out
}
