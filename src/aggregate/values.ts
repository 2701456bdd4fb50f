import { UsageError } from '../errors.ts'

/**
 * Selectors are user code reading loosely typed data, so a number field that arrives as "12.5" is common.
 * Failing the row (the engine dead-letters it) beats the alternatives: `acc + "12.5"` turns a sum into
 * string concatenation, and comparing a number with a string orders by accident.
 */
export function wrongValue(kind: string, expected: string, value: unknown): UsageError {
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value)
  return new UsageError(
    `${kind}: the selector returned ${typeof value} ${shown.length > 60 ? shown.slice(0, 57) + '...' : shown}, ` +
      `expected ${expected} (convert it in the selector, e.g. r => Number(r.price))`,
  )
}
