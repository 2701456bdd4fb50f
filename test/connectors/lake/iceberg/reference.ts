import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import type { Row } from '../data.ts'

/**
 * What an Iceberg reader should see for an input row, derived independently of the writer: every column of
 * the table (a field a row lacks reads as null), objects and arrays as their JSON text, Dates as ISO text
 * with a +00:00 offset (PyIceberg's timestamptz).
 */
export function expectedRow(row: Row, columns: readonly string[]): Row {
  const out: Row = {}
  for (const name of columns) {
    const value = row[name]
    if (value === undefined || value === null) out[name] = null
    else if (value instanceof Date) out[name] = value.toISOString().replace(/\.000Z$|Z$/, '+00:00')
    else if (typeof value === 'object') out[name] = JSON.stringify(value)
    else out[name] = value
  }
  return out
}

/**
 * A row's content digest as digest-iceberg.py computes it from what PyIceberg read: the first 16 hex digits
 * of the SHA-256 of the JSON array of expectedRow()'s values in the table's column order.
 */
export function rowDigest(row: Row, columns: readonly string[]): string {
  const expected = expectedRow(row, columns)
  const text = JSON.stringify(columns.map((name) => expected[name]))
  return createHash('sha256').update(text).digest('hex').slice(0, 16)
}

/** The sorted digests of `rows`, to compare with a digest scan's as multisets. */
export function expectedDigests(rows: readonly Row[], columns: readonly string[]): string[] {
  return rows.map((row) => rowDigest(row, columns)).sort()
}

/** Asserts two sorted digest lists are the same multiset, naming how many rows are missing and extra. */
export function assertSameDigests(
  actual: readonly string[],
  expected: readonly string[],
  message: string,
): void {
  const missing: string[] = []
  const extra: string[] = []
  let i = 0
  let j = 0
  while (i < actual.length || j < expected.length) {
    const a = actual[i]
    const e = expected[j]
    if (a !== undefined && a === e) {
      i++
      j++
    } else if (e === undefined || (a !== undefined && a < e)) extra.push(actual[i++] as string)
    else missing.push(expected[j++] as string)
  }
  assert.ok(
    missing.length === 0 && extra.length === 0,
    `${message}: ${actual.length} rows read for ${expected.length}; ${missing.length} expected rows missing, ${extra.length} rows not expected or read twice (digests ${[...missing, ...extra].slice(0, 5).join(', ')})`,
  )
}
