/**
 * JS values → DuckDB values for one column type. The fast path handles what pipelines produce (numbers,
 * strings, ISO timestamps, booleans, objects for JSON) in JS; anything else is given to DuckDB as text and
 * cast there (`castWithDuckDB`), so odd values follow DuckDB's own casting rules and fail with its message.
 */
import {
  type DuckDBConnection,
  DuckDBDateValue,
  DuckDBTimestampMillisecondsValue,
  DuckDBTimestampNanosecondsValue,
  DuckDBTimestampSecondsValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  type DuckDBType,
  DuckDBTypeId,
  type DuckDBValue,
  LIST,
  listValue,
  VARCHAR,
} from '@duckdb/node-api'
import { duckdbMessage } from './database.ts'

/**
 * A fraction for an integer column: DuckDB's cast would round it (19.99 → 20) without a word, so the sink
 * refuses the value instead.
 */
export class FractionRefused extends Error {
  readonly value: number

  constructor(value: number) {
    super(`${value} is not a whole number`)
    this.value = value
  }
}

/** The fast path could not convert the value: DuckDB casts its text instead. */
export const UNCONVERTED: unique symbol = Symbol('unconverted')
export type Converted = DuckDBValue | typeof UNCONVERTED
/** Converts a non-null value. */
export type FastConverter = (value: unknown) => Converted

const MS_PER_DAY = 86_400_000

/** The converter for a column of `type`; `sqlType` tells JSON (a VARCHAR alias) from VARCHAR. */
export function fastConverter(type: DuckDBType, sqlType: string): FastConverter {
  switch (type.typeId) {
    case DuckDBTypeId.BOOLEAN:
      return (v) => (typeof v === 'boolean' ? v : UNCONVERTED)
    case DuckDBTypeId.TINYINT:
      return intConverter(-128, 127)
    case DuckDBTypeId.SMALLINT:
      return intConverter(-32_768, 32_767)
    case DuckDBTypeId.INTEGER:
      return intConverter(-2_147_483_648, 2_147_483_647)
    case DuckDBTypeId.UTINYINT:
      return intConverter(0, 255)
    case DuckDBTypeId.USMALLINT:
      return intConverter(0, 65_535)
    case DuckDBTypeId.UINTEGER:
      return intConverter(0, 4_294_967_295)
    case DuckDBTypeId.BIGINT:
      return bigintConverter((b) => BigInt.asIntN(64, b) === b)
    case DuckDBTypeId.UBIGINT:
      return bigintConverter((b) => BigInt.asUintN(64, b) === b)
    case DuckDBTypeId.HUGEINT:
      return bigintConverter((b) => BigInt.asIntN(128, b) === b)
    case DuckDBTypeId.UHUGEINT:
      return bigintConverter((b) => BigInt.asUintN(128, b) === b)
    case DuckDBTypeId.DOUBLE:
      return (v) => (typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : UNCONVERTED)
    case DuckDBTypeId.FLOAT:
      return (v) => {
        const n = typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : Number.NaN
        if (typeof v !== 'number' && typeof v !== 'bigint') return UNCONVERTED
        return Number.isFinite(n) && !Number.isFinite(Math.fround(n)) ? UNCONVERTED : n
      }
    case DuckDBTypeId.VARCHAR:
      return sqlType === 'JSON' ? jsonText : (v) => (typeof v === 'string' ? v : textOf(v))
    case DuckDBTypeId.TIMESTAMP_TZ:
      return timestampConverter((m) => new DuckDBTimestampTZValue(m))
    case DuckDBTypeId.TIMESTAMP:
      return timestampConverter((m) => new DuckDBTimestampValue(m))
    case DuckDBTypeId.TIMESTAMP_MS:
      return timestampConverter((m) => new DuckDBTimestampMillisecondsValue(floorDiv(m, 1000n)))
    case DuckDBTypeId.TIMESTAMP_S:
      return timestampConverter((m) => new DuckDBTimestampSecondsValue(floorDiv(m, 1_000_000n)))
    case DuckDBTypeId.TIMESTAMP_NS:
      return timestampConverter((m) => new DuckDBTimestampNanosecondsValue(m * 1000n))
    case DuckDBTypeId.DATE:
      return (v) => {
        if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v)) {
          const ms = Date.parse(`${v}T00:00:00Z`)
          return Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== v
            ? UNCONVERTED
            : new DuckDBDateValue(ms / MS_PER_DAY)
        }
        if (v instanceof Date && !Number.isNaN(v.getTime()))
          return new DuckDBDateValue(Math.floor(v.getTime() / MS_PER_DAY))
        return UNCONVERTED
      }
    default:
      return () => UNCONVERTED
  }
}

function intConverter(min: number, max: number): FastConverter {
  return (v) => {
    if (typeof v === 'number') {
      if (Number.isFinite(v) && !Number.isInteger(v)) throw new FractionRefused(v)
      return Number.isInteger(v) && v >= min && v <= max ? v : UNCONVERTED
    }
    if (typeof v === 'bigint') return v >= BigInt(min) && v <= BigInt(max) ? Number(v) : UNCONVERTED
    return UNCONVERTED
  }
}

function bigintConverter(fits: (b: bigint) => boolean): FastConverter {
  return (v) => {
    if (typeof v === 'number') {
      if (Number.isFinite(v) && !Number.isInteger(v)) throw new FractionRefused(v)
      return Number.isSafeInteger(v) && fits(BigInt(v)) ? BigInt(v) : UNCONVERTED
    }
    if (typeof v === 'bigint') return fits(v) ? v : UNCONVERTED
    return UNCONVERTED
  }
}

function timestampConverter(make: (micros: bigint) => DuckDBValue): FastConverter {
  return (v) => {
    let micros: bigint | undefined
    if (typeof v === 'string') micros = isoMicros(v)
    else if (typeof v === 'number' && Number.isFinite(v)) micros = BigInt(Math.round(v * 1000))
    else if (v instanceof Date && !Number.isNaN(v.getTime())) micros = BigInt(v.getTime()) * 1000n
    return micros === undefined ? UNCONVERTED : make(micros)
  }
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b
  return a % b !== 0n && a < 0n ? q - 1n : q
}

/**
 * Microseconds since the epoch of an ISO-8601 timestamp: `YYYY-MM-DD`, `T` or a space, `HH:MM`, optional
 * `:SS` and fraction (up to nanoseconds, truncated to microseconds), then `Z`, an offset (`+HH`, `+HHMM`,
 * `+HH:MM`) or nothing (UTC). Undefined when the text is anything else or no real instant (2026-02-30).
 * Hand-rolled: it runs once per timestamp value of every batch.
 */
export function isoMicros(text: string): bigint | undefined {
  const n = text.length
  if (n < 16) return undefined
  const y = digits(text, 0, 4)
  const mo = digits(text, 5, 2)
  const d = digits(text, 8, 2)
  const h = digits(text, 11, 2)
  const mi = digits(text, 14, 2)
  const sep = text.charCodeAt(10)
  if (
    y < 0 ||
    mo < 1 ||
    mo > 12 ||
    d < 1 ||
    d > daysInMonth(y, mo) ||
    h < 0 ||
    h > 23 ||
    mi < 0 ||
    mi > 59 ||
    text.charCodeAt(4) !== 45 ||
    text.charCodeAt(7) !== 45 ||
    (sep !== 84 && sep !== 32) ||
    text.charCodeAt(13) !== 58
  )
    return undefined
  let i = 16
  let s = 0
  let micro = 0
  if (i < n && text.charCodeAt(i) === 58) {
    s = digits(text, i + 1, 2)
    if (s < 0 || s > 59) return undefined
    i += 3
    if (i < n && text.charCodeAt(i) === 46) {
      i++
      let count = 0
      while (i < n) {
        const c = text.charCodeAt(i) - 48
        if (c < 0 || c > 9) break
        if (count < 6) micro = micro * 10 + c
        count++
        i++
      }
      if (count === 0 || count > 9) return undefined
      for (let k = count; k < 6; k++) micro *= 10
    }
  }
  let offsetMinutes = 0
  if (i < n) {
    const z = text.charCodeAt(i)
    if ((z === 90 || z === 122) && i === n - 1) i++
    else if (z === 43 || z === 45) {
      const oh = digits(text, i + 1, 2)
      let rest = i + 3
      if (rest < n && text.charCodeAt(rest) === 58) rest++
      const om = rest < n ? digits(text, rest, 2) : 0
      if (oh < 0 || oh > 23 || om < 0 || om > 59 || (rest < n && rest + 2 !== n)) return undefined
      offsetMinutes = (z === 45 ? -1 : 1) * (oh * 60 + om)
      i = n
    } else return undefined
  }
  if (i !== n) return undefined
  const seconds = daysFromCivil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offsetMinutes * 60
  // Exact as a double up to the year 2255; beyond that, BigInt arithmetic.
  const total = seconds * 1_000_000 + micro
  return Number.isSafeInteger(total) ? BigInt(total) : BigInt(seconds) * 1_000_000n + BigInt(micro)
}

/** The number made of `count` ASCII digits at `at`, or -1. */
function digits(text: string, at: number, count: number): number {
  let value = 0
  for (let k = 0; k < count; k++) {
    const c = text.charCodeAt(at + k) - 48
    if (!(c >= 0 && c <= 9)) return -1
    value = value * 10 + c
  }
  return value
}

function daysInMonth(y: number, m: number): number {
  if (m === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28
  return m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31
}

/** Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y
  const era = Math.floor(yy / 400)
  const yoe = yy - era * 400
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146_097 + doe - 719_468
}

/** JSON text of any value; bigints become numbers when exact, strings otherwise. */
export function jsonText(value: unknown): string {
  return JSON.stringify(value, jsonReplacer) ?? 'null'
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString()
  if (value instanceof Uint8Array && !(value instanceof Buffer)) return Buffer.from(value).toString('base64')
  return value
}

/** The text DuckDB casts when the fast path cannot convert a value (and what a VARCHAR column stores). */
export function textOf(value: unknown): string {
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value)
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString()
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8')
  return jsonText(value)
}

export type CastResult = { readonly value: DuckDBValue } | { readonly error: string }

/**
 * Casts texts to `sqlType` in DuckDB: one TRY_CAST over all of them, then one CAST per failure for DuckDB's
 * message. Runs outside any transaction of the caller's (a failing CAST aborts the transaction it runs in).
 */
export async function castWithDuckDB(
  connection: DuckDBConnection,
  sqlType: string,
  texts: readonly string[],
): Promise<CastResult[]> {
  if (texts.length === 0) return []
  const reader = await connection.runAndReadAll(
    `SELECT TRY_CAST(u.x AS ${sqlType}) AS v FROM unnest($1::VARCHAR[]) WITH ORDINALITY AS u(x, i) ORDER BY u.i`,
    [listValue(texts)],
    [LIST(VARCHAR)],
  )
  const values = reader.getColumns()[0] ?? []
  const out: CastResult[] = []
  for (let i = 0; i < texts.length; i++) {
    const value = values[i] ?? null
    if (value !== null) {
      out.push({ value })
      continue
    }
    try {
      const single = await connection.runAndReadAll(`SELECT CAST($1::VARCHAR AS ${sqlType}) AS v`, [
        texts[i] ?? '',
      ])
      out.push({ value: single.getColumns()[0]?.[0] ?? null })
    } catch (error) {
      out.push({ error: duckdbMessage(error) })
    }
  }
  return out
}
