import type { RecordLimits } from '../plan/record-limits.ts'

/**
 * Checks a decoded value against the record limits: nesting depth, fields per object, and numbers a double
 * cannot hold (`1e400` parses to Infinity, which every sink would store as NULL; an integer literal beyond
 * ±2^53 silently becomes another integer). `check` returns the reason for a dead letter, or undefined.
 *
 * Two walks: a fast one on every record that only answers "anything unusual?", with the checks of
 * primitives inlined (0.2–0.4 µs on a 500-byte clickstream event, next to 2.6 µs to decode it, in
 * `node bench/micro/record-limits.ts` on a shared machine; a call per value cost about 1.5× that), and, for the rare
 * record it flags, a second one that finds the place and says what is wrong. Both recurse, but never deeper
 * than `maxDepth` (at most 1,000: record-limits.ts), so hostile input cannot overflow the stack here.
 */
export class JsonLimitsChecker {
  readonly #maxDepth: number
  readonly #maxFields: number
  /** Set by the describing walk when it met a finite number beyond ±2^53: exact only if its literal says so. */
  #unsafeNumber = false

  constructor(limits: RecordLimits) {
    this.#maxDepth = limits.maxDepth
    this.#maxFields = limits.maxFields
  }

  /** `text`, when the value was decoded from it, lets a large integer be compared with its literal. */
  check(value: unknown, text?: string): string | undefined {
    const unusual = typeof value === 'object' && value !== null ? this.#unusual(value, 0) : outside(value)
    if (!unusual) return undefined
    this.#unsafeNumber = false
    const problem = this.#walk(value, 0)
    if (problem) return describe(problem)
    if (this.#unsafeNumber && text !== undefined) return inexactInteger(text)
    return undefined
  }

  /** The hot path: true when the value may break a limit (or holds a number beyond ±2^53). */
  #unusual(value: object, depth: number): boolean {
    if (depth >= this.#maxDepth) return true
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const item: unknown = value[i]
        if (typeof item === 'object' && item !== null ? this.#unusual(item, depth + 1) : outside(item))
          return true
      }
      return false
    }
    // Bytes in an in-process object are one value, not a field per byte.
    if (ArrayBuffer.isView(value)) return false
    let fields = 0
    for (const key in value) {
      if (++fields > this.#maxFields) return true
      const item = (value as Record<string, unknown>)[key]
      if (typeof item === 'object' && item !== null ? this.#unusual(item, depth + 1) : outside(item))
        return true
    }
    return false
  }

  #walk(value: unknown, depth: number): Problem | undefined {
    if (typeof value !== 'object' || value === null) {
      if (outside(value)) {
        if (!Number.isFinite(value)) return { kind: 'number', value: value as number, path: [] }
        this.#unsafeNumber = true
      }
      return undefined
    }
    if (depth >= this.#maxDepth) return { kind: 'depth', value: this.#maxDepth, path: [] }
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const problem = this.#walk(value[i], depth + 1)
        if (problem) {
          problem.path.push(String(i))
          return problem
        }
      }
      return undefined
    }
    if (ArrayBuffer.isView(value)) return undefined
    let fields = 0
    for (const key in value) {
      if (++fields > this.#maxFields) return { kind: 'fields', value: this.#maxFields, path: [] }
      const problem = this.#walk((value as Record<string, unknown>)[key], depth + 1)
      if (problem) {
        problem.path.push(key)
        return problem
      }
    }
    return undefined
  }
}

/** A number beyond ±2^53, or not finite (one comparison for the usual number; NaN fails it too). */
function outside(value: unknown): boolean {
  return typeof value === 'number' && !(value <= MAX_SAFE && value >= -MAX_SAFE)
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER

interface Problem {
  readonly kind: 'depth' | 'fields' | 'number'
  readonly value: number
  /** Keys from the problem outwards (reversed). */
  readonly path: string[]
}

function describe(problem: Problem): string {
  const at = problem.path.length === 0 ? '(root)' : shortPath(problem.path.reverse())
  switch (problem.kind) {
    case 'depth':
      return `nested more than ${problem.value} levels deep at ${at} (recordLimits.maxDepth)`
    case 'fields':
      return `more than ${problem.value} fields in the object at ${at} (recordLimits.maxFields)`
    case 'number':
      return `number out of range at ${at}: it parses to ${String(problem.value)}, which JSON cannot carry (a double holds at most ±1.8e308)`
  }
}

/** A path of up to 128 keys, each possibly long: the start and the end are what tell where it is. */
function shortPath(path: readonly string[]): string {
  const shown = (key: string) => (key.length > 40 ? `${key.slice(0, 40)}…` : key)
  const parts =
    path.length > 8 ? [...path.slice(0, 4).map(shown), '…', ...path.slice(-3).map(shown)] : path.map(shown)
  return parts.join('.')
}

/**
 * The rare path: some number was beyond ±2^53. Parse again with the literal of each number at hand
 * (JSON.parse source text access) and refuse an integer literal the double does not equal. Literals with a
 * fraction or an exponent are decimal approximations by nature and pass, like 0.1 does.
 */
function inexactInteger(text: string): string | undefined {
  let found: string | undefined
  JSON.parse(text, function (this: unknown, _key: string, value: unknown, context?: { source?: string }) {
    if (found === undefined && typeof value === 'number' && !(value <= MAX_SAFE && value >= -MAX_SAFE)) {
      const literal = context?.source
      if (literal !== undefined && /^-?\d+$/.test(literal) && BigInt(literal) !== BigInt(value))
        found = literal
    }
    return value
  })
  if (found === undefined) return undefined
  const shown = found.length > 40 ? `${found.slice(0, 40)}…` : found
  return `integer ${shown} is beyond ±2^53 and would be stored as ${String(Number(found))}: JSON numbers are doubles here; send it as a string`
}
