import { RE2JS, RE2JSException } from 're2js'

/**
 * CEL's `matches()` with RE2 semantics, in time linear in the input. The expression library's own overload
 * uses JavaScript's backtracking RegExp, where one record (`"aaaa…a!"` against `^(a+)+$`) blocked a pipeline
 * for minutes and a pattern taken from the record (`event.s.matches(event.re)`) let the data choose. re2js is
 * a pure-JavaScript port of RE2 (no native build): patterns with backreferences or lookaround, which need
 * backtracking, do not compile, as in every other CEL implementation.
 */

/** A pattern RE2 refuses; the message quotes the pattern and says why. */
export class RegexSyntaxError extends Error {}

export function compileRegex(pattern: string): RE2JS {
  try {
    return RE2JS.compile(pattern)
  } catch (error) {
    if (!(error instanceof RE2JSException)) throw error
    throw new RegexSyntaxError(
      `invalid regular expression ${JSON.stringify(pattern)}: ${error.message.replace(/^error parsing regexp: /, '')} (matches() uses RE2 syntax: no backreferences or lookaround)`,
    )
  }
}

/** Patterns that come from records: compiled once each while they keep coming, at most this many kept. */
const DYNAMIC_CACHE_SIZE = 256
const dynamic = new Map<string, RE2JS>()

/** A compiled pattern from the bounded LRU cache (a Map keeps insertion order: the first key is the oldest). */
export function cachedRegex(pattern: string): RE2JS {
  const hit = dynamic.get(pattern)
  if (hit) {
    dynamic.delete(pattern)
    dynamic.set(pattern, hit)
    return hit
  }
  const compiled = compileRegex(pattern)
  if (dynamic.size >= DYNAMIC_CACHE_SIZE) dynamic.delete(dynamic.keys().next().value as string)
  dynamic.set(pattern, compiled)
  return compiled
}

/** `text.matches(pattern)`: true when the pattern matches any part of the text, as RE2's PartialMatch. */
export function matches(text: unknown, pattern: unknown, literal?: RE2JS): boolean {
  if (typeof text !== 'string' || typeof pattern !== 'string')
    throw new Error(`no such overload: ${celType(text)}.matches(${celType(pattern)})`)
  return (literal ?? cachedRegex(pattern)).test(text)
}

function celType(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'list'
  if (typeof v === 'number') return 'double'
  if (typeof v === 'bigint') return 'int'
  if (typeof v === 'object') return 'map'
  return typeof v
}
