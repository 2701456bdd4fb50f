import { z } from 'zod'

/**
 * What a pipeline file knows about the shape of its records, so that a field an expression names can be
 * checked when the file loads (`event.event_typo` is an error at its place, not a dead letter per record).
 * Shapes only ever over-approximate: a field is reported missing only when no record the schema accepts can
 * have it. Anything the schema leaves open, or that this module does not understand, is `any` and unchecked.
 *
 * - `object`: the fields a record may have; `closed` when it can have no others (JSON Schema
 *   `additionalProperties: false`, Zod's objects, which strip or refuse unknown keys);
 * - `list`: the shape of its elements;
 * - `value`: a string, number, boolean or null, which has no fields at all.
 */
export type Shape =
  | { readonly kind: 'any' }
  | { readonly kind: 'object'; readonly fields: ReadonlyMap<string, Shape>; readonly closed: boolean }
  | { readonly kind: 'list'; readonly items: Shape }
  | { readonly kind: 'value'; readonly type: 'string' | 'number' | 'boolean' | 'null' }

export const anyShape: Shape = { kind: 'any' }

/** A record of exactly these fields (a map step's, a select's, a window's rows). */
export function closedObject(fields: Iterable<readonly [string, Shape]>): Shape {
  return { kind: 'object', fields: new Map(fields), closed: true }
}

/** `shape` with one more field (withField, a join's `as`); unchanged when nothing is known of it. */
export function withShapeField(shape: Shape, name: string, field: Shape = anyShape): Shape {
  if (shape.kind !== 'object') return shape.kind === 'any' ? shape : closedObject([[name, field]])
  return { ...shape, fields: new Map([...shape.fields, [name, field]]) }
}

/** The shape of the values a Zod schema outputs, through Zod's own JSON Schema export. */
export function shapeFromZod(schema: z.ZodType): Shape {
  try {
    return shapeFromJsonSchema(
      z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any', cycles: 'ref' }),
    )
  } catch {
    return anyShape
  }
}

type Schema = Readonly<Record<string, unknown>>

/** References followed at most this deep (a recursive schema stops here, as `any`). */
const MAX_DEPTH = 32

/** The shape of the values a JSON Schema accepts. */
export function shapeFromJsonSchema(schema: unknown): Shape {
  return isSchema(schema) ? shapeOf(schema, schema, 0) : anyShape
}

function isSchema(value: unknown): value is Schema {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function resolve(node: Schema, root: Schema, depth: number): Schema | undefined {
  const ref = node.$ref
  if (typeof ref !== 'string') return node
  if (depth >= MAX_DEPTH || !ref.startsWith('#')) return undefined
  let target: unknown = root
  for (const part of ref.slice(1).split('/').filter(Boolean)) {
    const key = decodeURIComponent(part).replaceAll('~1', '/').replaceAll('~0', '~')
    target = isSchema(target) ? target[key] : undefined
  }
  return isSchema(target) ? resolve(target, root, depth + 1) : undefined
}

function shapeOf(node: Schema, root: Schema, depth: number): Shape {
  const schema = resolve(node, root, depth)
  if (!schema || depth > MAX_DEPTH) return anyShape
  const branches = [schema.anyOf, schema.oneOf].filter(Array.isArray).flat().filter(isSchema)
  // Only what a schema allows by itself is read here; its other keywords only narrow it further.
  const own = ownShape(schema, root, depth)
  if (branches.length === 0) return own
  const union = branches.map((b) => shapeOf(b, root, depth + 1)).reduce(either)
  return hasOwnType(schema) ? both(own, union) : union
}

function hasOwnType(schema: Schema): boolean {
  return 'type' in schema || isSchema(schema.properties) || 'const' in schema || 'enum' in schema
}

function ownShape(schema: Schema, root: Schema, depth: number): Shape {
  const types = Array.isArray(schema.type)
    ? schema.type
    : typeof schema.type === 'string'
      ? [schema.type]
      : []
  if (types.length === 0) {
    if ('const' in schema) return valueShape([schema.const])
    if (Array.isArray(schema.enum)) return valueShape(schema.enum)
    return isSchema(schema.properties) ? objectShape(schema, root, depth) : anyShape
  }
  return types
    .map((type): Shape => {
      switch (type) {
        case 'object':
          return objectShape(schema, root, depth)
        case 'array':
          return isSchema(schema.items) && !('prefixItems' in schema)
            ? { kind: 'list', items: shapeOf(schema.items, root, depth + 1) }
            : { kind: 'list', items: anyShape }
        case 'string':
        case 'number':
        case 'boolean':
        case 'null':
          return { kind: 'value', type }
        case 'integer':
          return { kind: 'value', type: 'number' }
        default:
          return anyShape
      }
    })
    .reduce(either)
}

/**
 * The fields of an object schema. It is closed only when `additionalProperties: false` stands beside its
 * `properties` without `patternProperties` (JSON Schema's rule: only the sibling properties count) or when
 * `unevaluatedProperties: false` closes it over every subschema that declares properties.
 */
function objectShape(schema: Schema, root: Schema, depth: number): Shape {
  const fields = new Map<string, Shape>()
  const add = (props: unknown) => {
    if (!isSchema(props)) return
    for (const [name, sub] of Object.entries(props)) {
      const shape = isSchema(sub) ? shapeOf(sub, root, depth + 1) : anyShape
      const known = fields.get(name)
      fields.set(name, known ? either(known, shape) : shape)
    }
  }
  add(schema.properties)
  const patterns = isSchema(schema.patternProperties) && Object.keys(schema.patternProperties).length > 0
  if (schema.additionalProperties === false && !patterns) return { kind: 'object', fields, closed: true }
  // Subschemas that may declare more fields: every one they name may exist.
  const parts = [schema.allOf, schema.anyOf, schema.oneOf]
    .filter(Array.isArray)
    .flat()
    .concat(
      [schema.then, schema.else],
      Object.values(isSchema(schema.dependentSchemas) ? schema.dependentSchemas : {}),
    )
    .filter(isSchema)
  for (const part of parts) {
    const shape = shapeOf(part, root, depth + 1)
    if (shape.kind === 'object')
      for (const [name, sub] of shape.fields) fields.set(name, either(fields.get(name) ?? sub, sub))
  }
  return { kind: 'object', fields, closed: schema.unevaluatedProperties === false && !patterns }
}

function valueShape(values: readonly unknown[]): Shape {
  return values
    .map((v): Shape => {
      if (v === null) return { kind: 'value', type: 'null' }
      switch (typeof v) {
        case 'string':
        case 'number':
        case 'boolean':
          return { kind: 'value', type: v as never }
        default:
          return anyShape
      }
    })
    .reduce(either, { kind: 'value', type: 'null' })
}

/** A shape holding the values of both (a union). Null joins anything: reading a field of null is a record's problem. */
export function either(a: Shape, b: Shape): Shape {
  if (a.kind === 'value' && a.type === 'null') return b
  if (b.kind === 'value' && b.type === 'null') return a
  if (a.kind === 'object' && b.kind === 'object') {
    const fields = new Map(a.fields)
    for (const [name, shape] of b.fields) {
      const known = fields.get(name)
      fields.set(name, known ? either(known, shape) : shape)
    }
    return { kind: 'object', fields, closed: a.closed && b.closed }
  }
  if (a.kind === 'list' && b.kind === 'list') return { kind: 'list', items: either(a.items, b.items) }
  if (a.kind === 'value' && b.kind === 'value' && a.type === b.type) return a
  return anyShape
}

/**
 * A shape for values that satisfy both (a schema's own type beside its anyOf): the more definite one, or when
 * both say something, their union, which is wider than the truth and so never reports a field that exists.
 */
function both(a: Shape, b: Shape): Shape {
  if (a.kind === 'any') return b
  if (b.kind === 'any') return a
  return either(a, b)
}
