import { Environment, Optional } from '@marcbachmann/cel-js'
import { registerExtensions } from './cel-extensions.ts'
import { bindLinearMatches, PatternError } from './cel-matches.ts'
import { type FieldProblem, type KnownVariable, unknownFields } from './field-references.ts'

/**
 * Expressions in pipeline files are CEL (the Common Expression Language: https://cel.dev), evaluated by
 * @marcbachmann/cel-js. Each is parsed and type-checked once when the file is loaded; a record then costs one
 * call of the compiled evaluator. CEL has no side effects, no loops and no access to anything but the
 * variables of its scope and the functions of cel-extensions.ts, so a pipeline file cannot run arbitrary code;
 * `matches()` runs in linear time (cel-matches.ts), so no record can make one evaluation backtrack for minutes.
 */

/** The variables an expression may use, by where it stands in the file. */
export const SCOPES = {
  /** Most expressions: the record. */
  event: ['event'],
  /** A join's fields: the record and the table row. */
  join: ['event', 'row'],
  /** A process step's init: the key seen for the first time. */
  init: ['key'],
  /** A process step's next: the key's state, the record, the key. */
  next: ['state', 'event', 'key'],
  /** A process step's emit: as next, plus the state next gave. */
  emit: ['state', 'next', 'event', 'key'],
} as const satisfies Record<string, readonly string[]>

export type Scope = keyof typeof SCOPES

/** An expression that does not parse or type-check; `offset` is the character of the expression at fault. */
export class ExpressionCompileError extends Error {
  readonly offset: number

  constructor(message: string, offset: number) {
    super(message)
    this.offset = offset
  }
}

/** Fields the expression reads that its records cannot have (see field-references.ts); `offset` is the first's. */
export class UnknownFieldsError extends ExpressionCompileError {
  readonly problems: readonly FieldProblem[]

  constructor(problems: readonly [FieldProblem, ...FieldProblem[]]) {
    super(problems[0].message, problems[0].offset)
    this.problems = problems
  }
}

export interface CompiledExpression {
  readonly source: string
  /** The CEL type the checker inferred: 'bool', 'string', 'dyn', … */
  readonly type: string
  /**
   * Evaluates against a record (and a join's row). Results are plain JSON-like values: CEL integers become
   * numbers, timestamps ISO strings. Throws an Error whose message says what failed (a missing field, a
   * wrong type); the engine dead-letters the record with it. For the event and join scopes.
   */
  evaluate(event: unknown, row?: unknown): unknown
  /** Evaluates with the scope's variables by name (the process scopes); results and errors as evaluate's. */
  evaluateWith(variables: Readonly<Record<string, unknown>>): unknown
}

function environment(scope: Scope): Environment {
  const env = new Environment({
    unlistedVariablesAreDyn: false,
    homogeneousAggregateLiterals: false,
    enableOptionalTypes: true,
  })
  for (const name of SCOPES[scope]) env.registerVariable(name, 'dyn')
  registerExtensions(env)
  return env
}

const environments = Object.fromEntries(
  Object.keys(SCOPES).map((scope) => [scope, environment(scope as Scope)]),
) as Record<Scope, Environment>

interface CelError {
  readonly summary?: string
  readonly message: string
  readonly range?: { readonly start: number }
}

function celError(error: unknown): CelError {
  return error instanceof Error ? (error as Error & CelError) : { message: String(error) }
}

/**
 * Parses and type-checks `source`; throws ExpressionCompileError pointing at the offending character. With
 * `known`, the shapes of some of the scope's variables (the records' schema), every field read from them is
 * checked too: one that cannot exist throws UnknownFieldsError, with each such field.
 */
export function compileExpression(
  source: string,
  scope: Scope = 'event',
  known?: Readonly<Record<string, KnownVariable>>,
): CompiledExpression {
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
  try {
    bindLinearMatches(program.ast)
  } catch (error) {
    if (error instanceof PatternError) throw new ExpressionCompileError(error.message, error.offset)
    throw error
  }
  if (known) {
    const [first, ...rest] = unknownFields(program.ast, known)
    if (first) throw new UnknownFieldsError([first, ...rest])
  }
  const run = (variables: Readonly<Record<string, unknown>>): unknown => {
    let result: unknown
    try {
      result = program(variables)
    } catch (error) {
      const e = celError(error)
      throw new Error(`${e.summary ?? e.message} in ${JSON.stringify(source)}`)
    }
    return toPlain(result, source)
  }
  // One context object, reused: evaluation is synchronous, so no two records share it at once.
  const context: { event: unknown; row: unknown } = { event: undefined, row: undefined }
  return {
    source,
    type: checked.type ?? 'dyn',
    evaluate(event: unknown, row?: unknown): unknown {
      context.event = event
      context.row = row ?? null
      try {
        return run(context)
      } finally {
        context.event = undefined
        context.row = undefined
      }
    },
    evaluateWith: run,
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
