import type { RE2JS } from 're2js'
import { compileRegex, matches, RegexSyntaxError } from './cel-regex.ts'

/**
 * Rebinds every `x.matches(p)` of a checked expression to the linear-time matcher of cel-regex.ts. The
 * library registers its own backtracking `string.matches(string)` and refuses a second overload of the same
 * signature, so the call nodes are rebound instead: the type checker leaves each call's function in the node's
 * `handle`, which evaluation calls with the receiver and argument values. A literal pattern is compiled here,
 * once; a bad one is reported at its place in the expression. @marcbachmann/cel-js is pinned in package.json:
 * test/config/linear-regex.test.ts fails (hangs on the ReDoS record) if a new version moves these fields.
 */

/** The fields of the library's AST nodes read here. */
interface CelNode {
  readonly op: string
  readonly args: unknown
  readonly start: number
  handle?: (values: readonly unknown[]) => unknown
}

/** A literal pattern RE2 refuses: `offset` is where the pattern starts in the expression. */
export class PatternError extends Error {
  readonly offset: number

  constructor(message: string, offset: number) {
    super(message)
    this.offset = offset
  }
}

/** Rebinds the matches() calls under `root` (a checked AST); throws PatternError for a bad literal pattern. */
export function bindLinearMatches(root: unknown): void {
  const seen = new Set<object>()
  const visit = (value: unknown): void => {
    if (value === null || typeof value !== 'object' || seen.has(value)) return
    seen.add(value)
    if (Array.isArray(value)) {
      for (const item of value) visit(item)
      return
    }
    if (isNode(value)) {
      if (value.op === 'rcall') bind(value)
      visit(value.args)
      return
    }
    // A comprehension's args: an object of nodes (iterable, step, result, …).
    for (const item of Object.values(value)) visit(item)
  }
  visit(root)
}

function bind(node: CelNode): void {
  const [name, , args] = node.args as [string, unknown, readonly unknown[]]
  if (name !== 'matches' || args.length !== 1) return
  const pattern = args[0]
  let literal: RE2JS | undefined
  if (
    typeof pattern === 'object' &&
    pattern !== null &&
    isNode(pattern) &&
    pattern.op === 'value' &&
    typeof pattern.args === 'string'
  ) {
    try {
      literal = compileRegex(pattern.args)
    } catch (error) {
      if (error instanceof RegexSyntaxError) throw new PatternError(error.message, pattern.start)
      throw error
    }
  }
  node.handle = (values) => matches(values[0], values[1], literal)
}

function isNode(value: object): value is CelNode {
  return 'op' in value && typeof value.op === 'string' && 'args' in value && 'start' in value
}
