import { z } from 'zod'
import type { Plan, WindowAggregateNode } from './nodes.ts'

/**
 * The declared type of the rows a pipeline delivers to its sink, so that table sinks take column types from
 * the schema instead of guessing them from the first values (a sum that is whole in the first batch is not
 * an integer column). Only the top-level fields matter: each is one column.
 *
 * - `integer`: the schema says integer (JSON Schema `"type": "integer"`, Zod `z.int()`);
 * - `number`: any other number: double precision;
 * - `timestamp`: a string with `"format": "date-time"` (Zod `z.iso.datetime()`);
 * - `string`, `boolean`;
 * - `json`: objects, arrays, and fields the schema allows several kinds for.
 *
 * A field the schema does not pin down (`{}`, a Zod transform, `z.date()`) is not listed: the sink uses the
 * widest type for the kind of its values, as for fields without any schema.
 */
export type FieldType = 'integer' | 'number' | 'timestamp' | 'string' | 'boolean' | 'json'

export interface RowType {
  /** Where the types come from, for messages: the parse step's schema name. */
  readonly source: string
  readonly fields: ReadonlyMap<string, FieldType>
}

/** Rewrites the row type of a map step that keeps part of its input's shape (select, withField). */
export type RowTypeTransform = (input: RowType | undefined) => RowType | undefined

/**
 * The row type at the end of a plan: the last parse step's schema, kept through steps that pass values on
 * unchanged (filter, watermark, keyBy, dedupe) and through select/withField, or what a window aggregate
 * declares for its rows; lost after anything else that builds new values (map, flatMap, join, process),
 * where the sink falls back to the widest type for the kind of the values.
 */
export function outputRowType(plan: Plan): RowType | undefined {
  let current: RowType | undefined
  for (const node of plan.nodes) {
    switch (node.kind) {
      case 'parse':
        current = node.rowType
        break
      case 'filter':
      case 'watermark':
      case 'keyBy':
      case 'dedupe':
      case 'sink':
        break
      case 'map':
        current = node.rowType ? node.rowType(current) : undefined
        break
      case 'window':
        current = windowRowType(node)
        break
      default:
        current = undefined
    }
  }
  return current
}

/**
 * A window aggregate's rows: `window_start` and `window_end` are timestamps, the aggregate's fields (or its
 * `value`) what the aggregator says it returns; the key is whatever keyBy returned.
 */
function windowRowType(node: WindowAggregateNode): RowType {
  const fields = new Map<string, FieldType>([
    ['window_start', 'timestamp'],
    ['window_end', 'timestamp'],
  ])
  const result = node.aggregator.resultType
  if (typeof result === 'string') fields.set('value', result)
  else if (result)
    for (const [name, type] of Object.entries(result.fields))
      if (type && !fields.has(name)) fields.set(name, type)
  return { source: `window ${node.id}`, fields }
}

/** The fields of `input` that `select(...fields)` keeps. */
export function pickFields(fields: readonly string[]): RowTypeTransform {
  return (input) => {
    if (!input) return undefined
    const out = new Map<string, FieldType>()
    for (const f of fields) {
      const type = input.fields.get(f)
      if (type) out.set(f, type)
    }
    return { source: input.source, fields: out }
  }
}

/** `withField(name, fn)`: the input's fields but `name`, whose new values have no declared type. */
export function withoutField(name: string): RowTypeTransform {
  return (input) => {
    if (!input?.fields.has(name)) return input
    const out = new Map(input.fields)
    out.delete(name)
    return { source: input.source, fields: out }
  }
}

/** The row type a Zod schema declares for its output, through Zod's own JSON Schema export. */
export function rowTypeFromZod(schema: z.ZodType, source: string): RowType | undefined {
  let json: unknown
  try {
    json = z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any', cycles: 'ref' })
  } catch {
    return undefined
  }
  return rowTypeFromJsonSchema(json, source)
}

type Schema = Readonly<Record<string, unknown>>
/** What a sub-schema says: a field type, only null, or nothing definite (undefined). */
type Said = FieldType | 'null' | undefined

/** References followed at most this deep (a recursive schema stops here). */
const MAX_REFS = 32

/**
 * The row type a JSON Schema declares: the properties of an object schema (also through `$ref`, `allOf` and
 * unions of object schemas). Undefined when the schema does not describe objects.
 */
export function rowTypeFromJsonSchema(schema: unknown, source: string): RowType | undefined {
  if (!isSchema(schema)) return undefined
  const fields = objectFields(schema, schema, 0)
  return fields ? { source, fields } : undefined
}

function isSchema(value: unknown): value is Schema {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function resolve(node: Schema, root: Schema, depth: number): Schema | undefined {
  const ref = node.$ref
  if (typeof ref !== 'string') return node
  if (depth >= MAX_REFS || !ref.startsWith('#')) return undefined
  let target: unknown = root
  for (const part of ref.slice(1).split('/').filter(Boolean)) {
    const key = decodeURIComponent(part).replaceAll('~1', '/').replaceAll('~0', '~')
    target = isSchema(target) ? target[key] : undefined
  }
  return isSchema(target) ? resolve(target, root, depth + 1) : undefined
}

/** The top-level fields of an object schema, or undefined when it does not describe objects. */
function objectFields(node: Schema, root: Schema, depth: number): Map<string, FieldType> | undefined {
  const schema = resolve(node, root, depth)
  if (!schema || depth > MAX_REFS) return undefined
  const union = (Array.isArray(schema.anyOf) ? schema.anyOf : Array.isArray(schema.oneOf) ? schema.oneOf : [])
    .filter(isSchema)
    .filter((branch) => typeOf(branch, root, depth + 1) !== 'null')
  if (union.length > 0) {
    // A union of object schemas: a field's type is what every branch that has it allows.
    const out = new Map<string, FieldType | undefined>()
    for (const branch of union) {
      const fields = objectFields(branch, root, depth + 1)
      if (!fields) return undefined
      for (const [name, type] of fields) out.set(name, out.has(name) ? widen(out.get(name), type) : type)
    }
    return definite(out)
  }
  const out = new Map<string, FieldType | undefined>()
  for (const part of Array.isArray(schema.allOf) ? schema.allOf.filter(isSchema) : []) {
    // Every part holds at once: a field declared in several parts has the narrower type.
    for (const [name, type] of objectFields(part, root, depth + 1) ?? []) {
      const known = out.get(name)
      out.set(name, known === undefined || known === type ? type : narrow(known, type))
    }
  }
  const types = declaredTypes(schema)
  const object = types.includes('object') || (types.length === 0 && isSchema(schema.properties))
  if (!object && out.size === 0) return undefined
  if (isSchema(schema.properties)) {
    for (const [name, sub] of Object.entries(schema.properties)) {
      const said = isSchema(sub) ? typeOf(sub, root, depth + 1) : undefined
      const type = said === 'null' ? undefined : said
      const known = out.get(name)
      out.set(name, known === undefined ? type : type === undefined ? known : narrow(known, type))
    }
  }
  return definite(out)
}

function definite(fields: Map<string, FieldType | undefined>): Map<string, FieldType> {
  const out = new Map<string, FieldType>()
  for (const [name, type] of fields) if (type !== undefined) out.set(name, type)
  return out
}

function declaredTypes(schema: Schema): string[] {
  const type = schema.type
  if (typeof type === 'string') return [type]
  return Array.isArray(type) ? type.filter((t): t is string => typeof t === 'string') : []
}

/** What one field's schema says its values are. */
function typeOf(node: Schema, root: Schema, depth: number): Said {
  const schema = resolve(node, root, depth)
  if (!schema || depth > MAX_REFS) return undefined
  const branches = Array.isArray(schema.anyOf)
    ? schema.anyOf
    : Array.isArray(schema.oneOf)
      ? schema.oneOf
      : []
  if (branches.length > 0) {
    let said: Said | 'none' = 'none'
    for (const branch of branches) {
      const type = isSchema(branch) ? typeOf(branch, root, depth + 1) : undefined
      if (type === undefined) return undefined
      said = said === 'none' ? type : widenSaid(said, type)
    }
    return said === 'none' ? undefined : said
  }
  if (Array.isArray(schema.allOf)) {
    let said: Said
    for (const part of schema.allOf) {
      const type = isSchema(part) ? typeOf(part, root, depth + 1) : undefined
      if (type === undefined || type === 'null') continue
      said = said === undefined ? type : narrow(said as FieldType, type)
    }
    if (said !== undefined) return said
  }
  const types = declaredTypes(schema).filter((t) => t !== 'null')
  if (types.length === 0) {
    if (declaredTypes(schema).includes('null')) return 'null'
    const values = 'const' in schema ? [schema.const] : Array.isArray(schema.enum) ? schema.enum : undefined
    return values ? typeOfValues(values) : isSchema(schema.properties) ? 'json' : undefined
  }
  let said: FieldType | undefined
  for (const t of types) {
    const type = fieldTypeOf(t, schema)
    if (type === undefined) return undefined
    said = said === undefined ? type : widen(said, type)
  }
  return said
}

function fieldTypeOf(type: string, schema: Schema): FieldType | undefined {
  switch (type) {
    case 'integer':
      return 'integer'
    case 'number':
      return 'number'
    case 'string':
      return schema.format === 'date-time' ? 'timestamp' : 'string'
    case 'boolean':
      return 'boolean'
    case 'object':
    case 'array':
      return 'json'
    default:
      return undefined
  }
}

/** The type of `const` or `enum` values. */
function typeOfValues(values: readonly unknown[]): Said {
  let said: Said | 'none' = 'none'
  for (const v of values) {
    const type: Said =
      v === null
        ? 'null'
        : typeof v === 'number'
          ? Number.isInteger(v)
            ? 'integer'
            : 'number'
          : typeof v === 'string'
            ? 'string'
            : typeof v === 'boolean'
              ? 'boolean'
              : 'json'
    said = said === 'none' ? type : widenSaid(said, type)
  }
  return said === 'none' ? undefined : said
}

function widenSaid(a: Said, b: Said): Said {
  if (a === undefined || b === undefined) return undefined
  if (a === 'null') return b
  if (b === 'null') return a
  return widen(a, b)
}

/** A type holding values of both. */
function widen(a: FieldType | undefined, b: FieldType | undefined): FieldType | undefined {
  if (a === undefined || b === undefined) return undefined
  if (a === b) return a
  const both = new Set([a, b])
  if (both.has('integer') && both.has('number')) return 'number'
  if (both.has('string') && both.has('timestamp')) return 'string'
  return 'json'
}

/** A type for values that satisfy both (allOf). */
function narrow(a: FieldType, b: FieldType): FieldType {
  if (a === b) return a
  const both = new Set([a, b])
  if (both.has('integer') && both.has('number')) return 'integer'
  if (both.has('string') && both.has('timestamp')) return 'timestamp'
  if (a === 'json') return b
  if (b === 'json') return a
  return a
}
