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
