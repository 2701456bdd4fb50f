/** Field values as the MySQL sink binds them to placeholders, per column type. */
import type { ColumnInfo } from './schema.ts'
import { quoteId, toSqlTimestamp } from './sql.ts'

/** A value bound to a placeholder (never part of the SQL text). */
export type Param = string | number | bigint | boolean | Buffer | null

/** A value the sink refuses itself, because the server would store it wrongly without a word. */
export class ValueRefused extends Error {}

/** Converts a field's value to what is bound for its column; throws ValueRefused for a value it must not bind. */
export type Converter = (value: unknown) => Param

/** JSON text of a value; bigints as numbers' digits. */
export function jsonText(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))
}

/** An upper bound of the bytes a bound value takes in the statement packet. */
export function estimateBytes(value: unknown): number {
  if (value === null) return 1
  if (typeof value === 'string') return value.length * 3 + 9
  if (value instanceof Uint8Array) return value.length + 9
  return 10
}

export function exactBytes(values: readonly unknown[]): number {
  let n = 0
  for (const v of values) n += typeof v === 'string' ? Buffer.byteLength(v) + 9 : estimateBytes(v)
  return n
}

/**
 * How a field's values are bound for a column: ISO timestamps and Dates become UTC DATETIME text for
 * temporal columns, anything becomes JSON text for JSON columns, objects become JSON text elsewhere, and a
 * fraction for an integer column is refused (the server would truncate it silently, even in strict mode).
 * Everything else goes as it is, and the server decides (a string that is not a number is its error).
 */
export function converterFor(column: ColumnInfo): Converter {
  const generic: Converter = (v) => {
    switch (typeof v) {
      case 'undefined':
        return null
      case 'string':
      case 'number':
      case 'bigint':
      case 'boolean':
        return v
      case 'object':
        if (v === null) return null
        if (v instanceof Date) return String(toSqlTimestamp(v))
        if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength)
        return jsonText(v)
      default:
        throw new ValueRefused(`a ${typeof v} cannot be stored in column ${quoteId(column.name)}`)
    }
  }
  const temporal = (v: unknown): Param => {
    const t = toSqlTimestamp(v)
    return typeof t === 'string' ? t : generic(t)
  }
  switch (column.family) {
    case 'json':
      return (v) =>
        v === undefined || v === null ? null : typeof v === 'bigint' ? v.toString() : jsonText(v)
    case 'datetime':
      return temporal
    case 'date':
      return (v) => {
        const t = temporal(v)
        return typeof t === 'string' && t !== v ? t.slice(0, 10) : t
      }
    case 'integer':
      return (v) => {
        if (typeof v === 'number' && Number.isFinite(v) && !Number.isInteger(v))
          throw new ValueRefused(
            `Incorrect integer value: ${v} for column ${quoteId(column.name)} (${column.columnType}): the fraction would be lost`,
          )
        return generic(v)
      }
    default:
      return generic
  }
}
