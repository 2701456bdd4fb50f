import type { DeadLetter } from '../../runtime/sink.ts'

/**
 * What the table sinks (PostgreSQL, MariaDB, DuckDB, the lake) share about rows they cannot take: a row
 * that is not an object, a field name no column can have, and how such a row is shown in its dead letter.
 */

/** Why a value cannot be a table row (an object, one field per column); undefined when it can. */
export function notARow(row: unknown): string | undefined {
  if (row !== null && typeof row === 'object') {
    if (Array.isArray(row)) return 'the row is an array, not an object with one field per column'
    if (row instanceof Date) return 'the row is a Date, not an object with one field per column'
    if (row instanceof Uint8Array) return 'the row is bytes, not an object with one field per column'
    return undefined
  }
  const what = row === null ? 'null' : row === undefined ? 'undefined' : `a ${typeof row} (${preview(row)})`
  return `the row is ${what}, not an object with one field per column`
}

function preview(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : String(value)
  return text.length > 40 ? `${text.slice(0, 40)}…` : text
}

/** A field name for a reason: JSON-quoted (a NUL shows as \u0000), cut after 80 characters. */
export function showName(name: string): string {
  const quoted = JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name)
  return quoted
}

/** Why a field name is no column name anywhere: empty, or with a NUL (SQL text cannot hold one). */
export function basicNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'the empty string is not a column name'
  if (name.includes('\u0000')) return 'a column name cannot contain a NUL character'
  return undefined
}

/** ASCII case folding, as DuckDB compares identifiers ("name" and "NAME" are one column, "É" and "é" two). */
export function asciiLower(name: string): string {
  return /[A-Z]/.test(name) ? name.replace(/[A-Z]+/g, (s) => s.toLowerCase()) : name
}

/** Dead-letter text is cut here: a row of 100,000 fields still leaves a useful, bounded dead letter. */
const MAX_ROW_TEXT = 1 << 20
/** Deeper values are shown as "…" when the row is rendered by hand (JSON.stringify failed on it). */
const MAX_SHOWN_DEPTH = 32
const MAX_SHOWN_ENTRIES = 1000

/**
 * The row as JSON for its dead letter; never throws: bigints as digits, bytes as base64, and a row that
 * JSON.stringify cannot take (nested too deeply, circular) rendered with its deep parts cut. At most
 * `maxChars` characters.
 */
export function rowText(row: unknown, maxChars = MAX_ROW_TEXT): string {
  let text: string
  try {
    text = JSON.stringify(row, jsonReplacer) ?? String(row)
  } catch {
    text = shown(row, 0)
  }
  return text.length > maxChars ? `${text.slice(0, maxChars)}…` : text
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString()
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64')
  // A Buffer has become { type: 'Buffer', data: [...] } through its toJSON before the replacer sees it.
  if (
    value !== null &&
    typeof value === 'object' &&
    (value as { type?: unknown }).type === 'Buffer' &&
    Array.isArray((value as { data?: unknown }).data)
  )
    return Buffer.from((value as { data: number[] }).data).toString('base64')
  return value
}

/** Hand-rolled JSON with a depth bound (the recursion never goes deeper than MAX_SHOWN_DEPTH). */
function shown(value: unknown, depth: number): string {
  const replaced = jsonReplacer('', value)
  if (replaced === null || typeof replaced !== 'object') {
    if (replaced === undefined || typeof replaced === 'function' || typeof replaced === 'symbol')
      return 'null'
    return JSON.stringify(replaced) ?? 'null'
  }
  if (replaced instanceof Date) return JSON.stringify(replaced)
  if (depth >= MAX_SHOWN_DEPTH) return '"…"'
  if (Array.isArray(replaced)) {
    const items = replaced.slice(0, MAX_SHOWN_ENTRIES).map((v) => shown(v, depth + 1))
    if (replaced.length > MAX_SHOWN_ENTRIES) items.push('"…"')
    return `[${items.join(',')}]`
  }
  const parts: string[] = []
  for (const key in replaced) {
    if (!Object.hasOwn(replaced, key)) continue
    if (parts.length >= MAX_SHOWN_ENTRIES) {
      parts.push('"…":"…"')
      break
    }
    parts.push(`${JSON.stringify(key)}:${shown((replaced as Record<string, unknown>)[key], depth + 1)}`)
  }
  return `{${parts.join(',')}}`
}

/**
 * A row the sink could not take, as a dead letter: no source position (the row is the pipeline's output,
 * not a record it read), the row as JSON in `raw`.
 */
export function sinkDeadLetter(
  operator: string,
  reason: string,
  row: unknown,
  key: string | null,
): DeadLetter {
  return { reason, operator, partition: '', offset: -1, key, raw: rowText(row), timestamp: Date.now() }
}

/** The reason for a value JSON.stringify threw on: nested too deeply for the stack, or circular. */
export function jsonProblem(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  return /call stack/i.test(message)
    ? `the value is nested too deeply to write as JSON (${message})`
    : /circular/i.test(message)
      ? 'the value is circular, it cannot be written as JSON'
      : `the value cannot be written as JSON: ${message}`
}
