import { anyShape, type Shape } from './record-shape.ts'
import { suggest } from './schema-helpers.ts'

/**
 * Finds the fields a checked CEL expression reads that its records cannot have: `event.event_typo` where the
 * schema is closed, `event.page.pth`, `event.user_id.name` (a string has no fields). Field reads are the
 * library's AST nodes `.` and `.?` (select, optional select) and `[]` with a literal string; `has()` and
 * `event.?x` read too (on a closed record they are always false, which is a typo as surely). Variables bound
 * by macros (`exists(i, …)`, `cel.bind(x, …)`) take the shape of a list's elements or the bound value, and
 * shadow the scope's variables of the same name. Whatever is not known is `any` and not checked.
 */

/** A variable of the expression's scope: its shape and where that shape comes from, for messages. */
export interface KnownVariable {
  readonly shape: Shape
  /** For messages, after "fields": `in schema clickstream-event`, `made by step 3 (select)`. */
  readonly origin: string
}

/** A field that cannot exist: `offset` is where its name starts in the expression. */
export interface FieldProblem {
  readonly offset: number
  readonly message: string
}

/** The fields of the library's AST nodes read here (@marcbachmann/cel-js is pinned in package.json). */
interface CelNode {
  readonly op: string
  readonly args: unknown
  readonly start: number
  readonly end: number
}

/** Macros whose first argument names a variable bound to each element of the receiver. */
const COMPREHENSIONS = new Set(['all', 'exists', 'exists_one', 'existsOne', 'map', 'filter'])

interface Seen {
  readonly shape: Shape
  /** The expression text that gave it (`event.page`), and what the root variable's shape came from. */
  readonly path?: string
  readonly origin?: string
}

type Scope = ReadonlyMap<string, Seen>

const unknown: Seen = { shape: anyShape }

export function unknownFields(
  ast: unknown,
  variables: Readonly<Record<string, KnownVariable>>,
): FieldProblem[] {
  const problems: FieldProblem[] = []
  const scope = new Map<string, Seen>(
    Object.entries(variables).map(([name, v]) => [name, { shape: v.shape, path: name, origin: v.origin }]),
  )
  const walk = (value: unknown, scope: Scope): Seen => {
    if (!isNode(value)) {
      walkAll(value, scope)
      return unknown
    }
    switch (value.op) {
      case 'id':
        return scope.get(value.args as string) ?? unknown
      case '.':
      case '.?': {
        const [receiver, name] = value.args as [unknown, string]
        return select(walk(receiver, scope), name, value.end - name.length)
      }
      case '[]':
      case '[?]': {
        const [receiver, index] = value.args as [unknown, unknown]
        const seen = walk(receiver, scope)
        walk(index, scope)
        if (isNode(index) && index.op === 'value' && typeof index.args === 'string')
          return select(seen, index.args, index.start)
        return seen.shape.kind === 'list' ? { shape: seen.shape.items } : unknown
      }
      case 'rcall':
        return rcall(value, scope)
      default:
        walkAll(value.args, scope)
        return unknown
    }
  }
  const walkAll = (value: unknown, scope: Scope): void => {
    if (value === null || typeof value !== 'object') return
    if (isNode(value)) walk(value, scope)
    else for (const item of Array.isArray(value) ? value : Object.values(value)) walkAll(item, scope)
  }
  const rcall = (node: CelNode, scope: Scope): Seen => {
    const [name, receiver, args] = node.args as [string, unknown, readonly unknown[]]
    const bound = isNode(args[0]) && args[0].op === 'id' ? (args[0].args as string) : undefined
    if (
      bound !== undefined &&
      name === 'bind' &&
      isNode(receiver) &&
      receiver.op === 'id' &&
      receiver.args === 'cel'
    ) {
      const inner = new Map(scope).set(bound, walk(args[1], scope))
      return walk(args[2], inner)
    }
    const seen = walk(receiver, scope)
    if (bound === undefined || !COMPREHENSIONS.has(name)) {
      walkAll(args, scope)
      return unknown
    }
    const element: Seen =
      seen.shape.kind === 'list'
        ? {
            shape: seen.shape.items,
            path: bound,
            ...(seen.origin === undefined ? {} : { origin: seen.origin }),
          }
        : unknown
    const inner = new Map(scope).set(bound, element)
    // The two-variable forms (`all(i, v, …)`) bind a second name; it is not checked.
    const second = args[1]
    const secondName =
      args.length === 3 && isNode(second) && second.op === 'id' && name !== 'map' && name !== 'filter'
        ? (second.args as string)
        : undefined
    if (secondName !== undefined) inner.set(secondName, unknown)
    walkAll(args.slice(secondName === undefined ? 1 : 2), inner)
    return unknown
  }
  const select = (seen: Seen, name: string, offset: number): Seen => {
    const shape = seen.shape
    const path = seen.path === undefined ? undefined : `${seen.path}.${name}`
    const next = (s: Shape): Seen => ({ shape: s, ...(path === undefined ? {} : { path }) })
    if (shape.kind === 'object') {
      const field = shape.fields.get(name)
      if (field) return { ...next(field), ...(seen.origin === undefined ? {} : { origin: seen.origin }) }
      if (shape.closed)
        problems.push({
          offset,
          message: noSuchField(seen.path ?? 'the record', name, [...shape.fields.keys()], seen.origin),
        })
      return unknown
    }
    if (shape.kind === 'list' || (shape.kind === 'value' && shape.type !== 'null')) {
      const what = shape.kind === 'list' ? 'a list' : `a ${shape.type}`
      problems.push({
        offset,
        message: `${seen.path ?? 'the value'} is ${what}${from(seen)}, which has no field "${name}"`,
      })
    }
    return unknown
  }
  walk(ast, scope)
  return problems
}

/** At most this many field names in a message. */
const MAX_LISTED = 20

/** `event has no field "x" (did you mean "y"?): fields in schema s: …`; for a select's or watermark's field too. */
export function noSuchField(path: string, name: string, known: readonly string[], origin?: string): string {
  const close = suggest(name, known)
  const listed = `${known.slice(0, MAX_LISTED).join(', ')}${known.length > MAX_LISTED ? ', …' : ''}`
  return `${path} has no field "${name}"${close ? ` (did you mean "${close}"?)` : ''}: ${known.length === 0 ? 'it has no fields' : `fields${origin ? ` ${origin}` : ''}: ${listed}`}`
}

function from(seen: Seen): string {
  return seen.origin === undefined ? '' : ` ${seen.origin}`
}

function isNode(value: unknown): value is CelNode {
  return (
    typeof value === 'object' &&
    value !== null &&
    'op' in value &&
    typeof value.op === 'string' &&
    'args' in value &&
    'start' in value
  )
}
