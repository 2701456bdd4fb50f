import { Environment, Optional } from '@marcbachmann/cel-js'

/**
 * Expressions in pipeline files are CEL (the Common Expression Language: https://cel.dev), evaluated by
 * @marcbachmann/cel-js. Each is parsed and type-checked once when the file is loaded; a record then costs one
 * call of the compiled evaluator. CEL has no side effects, no loops and no access to anything but the
 * variables given (`event`, and `row` in a join), so a pipeline file cannot run arbitrary code.
 */

/** The variables an expression may use: the record, plus the table row inside a join. */
export type Scope = 'event' | 'join'

/** An expression that does not parse or type-check; `offset` is the character of the expression at fault. */
export class ExpressionCompileError extends Error {
  readonly offset: number

  constructor(message: string, offset: number) {
    super(message)
    this.offset = offset
  }
}

export interface CompiledExpression {
  readonly source: string
  /** The CEL type the checker inferred: 'bool', 'string', 'dyn', … */
  readonly type: string
  /**
   * Evaluates against a record (and a join's row). Results are plain JSON-like values: CEL integers become
   * numbers, timestamps ISO strings. Throws an Error whose message says what failed (a missing field, a
   * wrong type); the engine dead-letters the record with it.
   */
  evaluate(event: unknown, row?: unknown): unknown
}

function environment(scope: Scope): Environment {
  const env = new Environment({
    unlistedVariablesAreDyn: false,
    homogeneousAggregateLiterals: false,
    enableOptionalTypes: true,
  })
  env.registerVariable('event', 'dyn')
  if (scope === 'join') env.registerVariable('row', 'dyn')
  return env
}

const environments: Record<Scope, Environment> = { event: environment('event'), join: environment('join') }

interface CelError {
  readonly summary?: string
  readonly message: string
  readonly range?: { readonly start: number }
}

function celError(error: unknown): CelError {
  return error instanceof Error ? (error as Error & CelError) : { message: String(error) }
}

/** Parses and type-checks `source`; throws ExpressionCompileError pointing at the offending character. */
export function compileExpression(source: string, scope: Scope = 'event'): CompiledExpression {
  let program: ReturnType<Environment['parse']>
  try {
    program = environments[scope].parse(source)
  } catch (error) {
    const e = celError(error)
    throw new ExpressionCompileError(e.summary ?? e.message, e.range?.start ?? 0)
  }
  const checked = program.check()
  if (!checked.valid) {
    const e = celError(checked.error)
    throw new ExpressionCompileError(e.summary ?? e.message, e.range?.start ?? 0)
  }
  // One context object, reused: evaluation is synchronous, so no two records share it at once.
  const context: { event: unknown; row: unknown } = { event: undefined, row: undefined }
  return {
    source,
    type: checked.type ?? 'dyn',
    evaluate(event: unknown, row?: unknown): unknown {
      context.event = event
      context.row = row ?? null
      let result: unknown
      try {
        result = program(context)
      } catch (error) {
        const e = celError(error)
        throw new Error(`${e.summary ?? e.message} in ${JSON.stringify(source)}`)
      } finally {
        context.event = undefined
        context.row = undefined
      }
      return toPlain(result, source)
    },
  }
}

/** CEL values to the plain values the rest of the engine (and JSON) expects. */
export function toPlain(value: unknown, source: string): unknown {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'undefined':
      return value
    case 'bigint': {
      const n = Number(value)
      if (!Number.isSafeInteger(n))
        throw new Error(`integer ${value} is too large for a JSON number in ${JSON.stringify(source)}`)
      return n
    }
    case 'object':
      return plainObject(value, source)
    default:
      return value
  }
}

function plainObject(value: object | null, source: string): unknown {
  if (value === null || value instanceof Uint8Array) return value
  if (Array.isArray(value)) {
    let out: unknown[] | undefined
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i]
      const plain = toPlain(item, source)
      if (plain !== item) out ??= value.slice(0, i)
      if (out) out.push(plain)
    }
    return out ?? value
  }
  if (value instanceof Date) return value.toISOString()
  if (value instanceof Optional) return value.hasValue() ? toPlain(value.value(), source) : null
  if (value instanceof Map) {
    const out: Record<string, unknown> = {}
    for (const [k, v] of value) out[String(k)] = toPlain(v, source)
    return out
  }
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return String(value)
  let out: Record<string, unknown> | undefined
  for (const key in value) {
    const item = (value as Record<string, unknown>)[key]
    const plain = toPlain(item, source)
    if (plain !== item) out ??= { ...value }
    if (out) out[key] = plain
  }
  return out ?? value
}
