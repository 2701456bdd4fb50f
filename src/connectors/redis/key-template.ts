/**
 * A key template: fixed text with `{field}` placeholders replaced by the row's values, e.g.
 * "page:{key}:{window_start}". Without placeholders every row goes to one key (a stream's name).
 */
export interface KeyTemplate {
  readonly text: string
  readonly fields: readonly string[]
  /** The row's key, or why the row has none (a field missing, null, or not a scalar). */
  keyOf(row: Readonly<Record<string, unknown>>): { key: string } | { problem: string }
}

const PLACEHOLDER = /\{([^{}]+)\}/g

/** The template parsed once, when the sink is declared, or what is wrong with it. */
export function parseKeyTemplate(text: string): KeyTemplate | { problem: string } {
  if (text.length === 0) return { problem: 'the key is empty' }
  const parts = text.split(PLACEHOLDER)
  // split() with a capture group alternates literal text and field names: even indexes are text.
  const fields = parts.filter((_, i) => i % 2 === 1)
  const rest = parts.filter((_, i) => i % 2 === 0).join('')
  if (rest.includes('{') || rest.includes('}'))
    return { problem: `unbalanced braces in ${JSON.stringify(text)}: a placeholder is {field}` }
  return {
    text,
    fields,
    keyOf(row) {
      if (fields.length === 0) return { key: text }
      let key = ''
      for (let i = 0; i < parts.length; i++) {
        const part = parts[i]!
        if (i % 2 === 0) {
          key += part
          continue
        }
        const value = row[part]
        const shown = keyPart(value)
        if (shown === undefined)
          return {
            problem: `the key ${JSON.stringify(text)} needs field "${part}", which the row has ${value === undefined ? 'not' : `as ${value === null ? 'null' : typeof value}`}`,
          }
        key += shown
      }
      return { key }
    },
  }
}

function keyPart(value: unknown): string | undefined {
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return String(value)
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.toISOString()
  return undefined
}
