import { UsageError } from '../errors.ts'

/** `field=value` or `field!=value` on a (dotted) JSON field; values compare as strings. */
export interface RecordFilter {
  readonly path: readonly string[]
  readonly negate: boolean
  readonly value: string
}

export function parseFilter(text: string): RecordFilter {
  const match = /^([A-Za-z_][\w.]*)\s*(!=|=)\s*(.*)$/.exec(text.trim())
  if (!match)
    throw new UsageError(
      `Invalid --filter "${text}": expected field=value or field!=value, e.g. event_type=purchase.`,
    )
  return { path: match[1]!.split('.'), negate: match[2] === '!=', value: match[3]! }
}

function fieldAt(value: unknown, path: readonly string[]): unknown {
  let current = value
  for (const part of path) {
    if (current === null || typeof current !== 'object') return undefined
    current = (current as Record<string, unknown>)[part]
  }
  return current
}

/** True when the parsed record value passes every filter. Non-JSON values pass only negated filters. */
export function matchesAll(value: unknown, filters: readonly RecordFilter[]): boolean {
  for (const f of filters) {
    const field = fieldAt(value, f.path)
    const equal = field !== undefined && field !== null && String(field) === f.value
    if (equal === f.negate) return false
  }
  return true
}
