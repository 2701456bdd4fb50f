import type { Environment } from '@marcbachmann/cel-js'

/**
 * The functions pipeline files get beyond standard CEL, all registered here. CEL has no loops, so adding up
 * a list (a cart's value) or keeping each category once needs a function; the names and meanings follow
 * published CEL libraries, so expressions read as they would elsewhere: `list.sum()` from Kubernetes' list
 * library, `list.distinct()` from cel-go's lists extension, `math.round()` from cel-go's math extension.
 * They are pure functions of their arguments, like the rest of CEL. Documented in README.md (Expressions).
 */

/** `math` is a constant of this type, as `cel` (of `cel.bind`) is one of the library's CelNamespace. */
class MathNamespace {}

export function registerExtensions(env: Environment): void {
  env
    .registerFunction('list.sum(): double', sum, {
      description: 'The sum of a list of numbers, as a double; 0.0 for an empty list',
    })
    .registerFunction('list.distinct(): list', distinct, {
      description: 'The list without repeated strings, numbers, bools or nulls, keeping first occurrences',
    })
    .registerType('MathNamespace', MathNamespace)
    .registerConstant('math', 'MathNamespace', new MathNamespace())
    .registerFunction('MathNamespace.round(double): double', (_math: MathNamespace, x: number) => round(x), {
      description: 'Rounds to the nearest whole number, halves away from zero',
    })
}

/**
 * A double whatever the elements: records' numbers are doubles (JSON) and literals ints (`1`), and a sum that
 * changed type with its input would fail later in `+` or `==` with a double. Added in list order.
 */
export function sum(list: readonly unknown[]): number {
  let total = 0
  for (const v of list) {
    if (typeof v === 'number') total += v
    else if (typeof v === 'bigint') total += Number(v)
    else throw new Error(`sum() adds numbers, got ${describe(v)}`)
  }
  return total
}

/** CEL equality: 1 and 1.0 are equal, so the key of an int is its number. */
export function distinct(list: readonly unknown[]): unknown[] {
  const seen = new Set<unknown>()
  const out: unknown[] = []
  for (const v of list) {
    if (v !== null && typeof v === 'object')
      throw new Error(`distinct() compares strings, numbers, bools and nulls, got ${describe(v)}`)
    const key = typeof v === 'bigint' ? Number(v) : v
    if (seen.has(key)) continue
    seen.add(key)
    out.push(v)
  }
  return out
}

/** Halves away from zero, as cel-go's math.round: -2.5 gives -3 (JavaScript's Math.round gives -2). */
export function round(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x)
}

function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'a list'
  if (typeof v === 'object') return 'a map'
  return `${typeof v === 'string' ? 'the string' : typeof v} ${JSON.stringify(v)}`
}
