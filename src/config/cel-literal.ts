/**
 * CEL string literals for `${VAR}` values substituted into expressions (environment.ts): a value is always a
 * string literal, never code, so `x' || true || '` cannot change what a filter means.
 */

/** Where a character of an expression stands: in code, or inside a string literal of some kind. */
export type LiteralContext =
  | { readonly kind: 'code' }
  | { readonly kind: 'string'; readonly quote: string; readonly raw: boolean }
  /** Right after a backslash inside a string: the next character is part of an escape sequence. */
  | { readonly kind: 'escape' }

/**
 * The context at each of `positions` (ascending) of `text`, by lexing CEL's string literals: quotes ' and ",
 * tripled for multi-line strings, an r prefix for raw strings (no escapes). Everything else is code.
 */
export function literalContexts(text: string, positions: readonly number[]): LiteralContext[] {
  const out: LiteralContext[] = []
  let next = 0
  let quote = ''
  let raw = false
  let escaped = false
  for (let i = 0; i <= text.length && next < positions.length; i++) {
    while (next < positions.length && positions[next] === i) {
      out.push(escaped ? { kind: 'escape' } : quote ? { kind: 'string', quote, raw } : { kind: 'code' })
      next++
    }
    const c = text[i]
    if (c === undefined) break
    if (escaped) {
      escaped = false
    } else if (quote) {
      if (c === '\\' && !raw) escaped = true
      else if (text.startsWith(quote, i)) {
        i += quote.length - 1
        quote = ''
      }
    } else if (c === "'" || c === '"') {
      quote = text.startsWith(c.repeat(3), i) ? c.repeat(3) : c
      raw = /(^|[^A-Za-z0-9_])[bB]?[rR][bB]?$/.test(text.slice(Math.max(0, i - 3), i))
      i += quote.length - 1
    }
  }
  return out
}

/** `value` as the inside of a CEL string literal of either quote: every quote, backslash and control escaped. */
export function escapeCelString(value: string): string {
  let out = ''
  for (const c of value) {
    const code = c.codePointAt(0) ?? 0
    if (c === '\\' || c === '"' || c === "'") out += `\\${c}`
    else if (c === '\n') out += '\\n'
    else if (c === '\r') out += '\\r'
    else if (c === '\t') out += '\\t'
    else if (code < 0x20 || code === 0x7f) out += `\\u${code.toString(16).padStart(4, '0')}`
    else out += c
  }
  return out
}

/** `value` as a double-quoted CEL string literal. */
export function celStringLiteral(value: string): string {
  return `"${escapeCelString(value)}"`
}
