import protobuf from 'protobufjs'
import { UsageError } from '../errors.ts'
import type { RegisteredSchema } from './client.ts'

/**
 * The TypeScript type of the values `parse(registry())` gives for a registered schema (`sluice schema pull`):
 * an Avro record, a JSON Schema object or a Protobuf message, as the codecs decode them (Avro's optional
 * fields null, Protobuf's message fields null and `optional` scalars possibly absent, 64-bit integers numbers,
 * bytes Buffers). Types without a TypeScript counterpart become `unknown`.
 */
export function typescriptFor(schema: RegisteredSchema, typeName: string): string {
  switch (schema.schemaType) {
    case 'AVRO':
      return `export type ${typeName} = ${avroType(parseJson(schema.schema, 'Avro'), new Map(), '')}\n`
    case 'JSON': {
      const document = parseJson(schema.schema, 'JSON Schema')
      return `export type ${typeName} = ${jsonSchemaType(document, '', document)}\n`
    }
    case 'PROTOBUF':
      return `export type ${typeName} = ${protobufType(schema.schema)}\n`
  }
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new UsageError(`Invalid ${what} schema (not JSON): ${(error as Error).message}`, error)
  }
}

const AVRO_PRIMITIVES: Record<string, string> = {
  null: 'null',
  boolean: 'boolean',
  int: 'number',
  long: 'number',
  float: 'number',
  double: 'number',
  bytes: 'Buffer',
  string: 'string',
}

/** `named` holds the records, enums and fixed types met so far: Avro refers to them by name after. */
function avroType(schema: unknown, named: Map<string, string>, indent: string): string {
  if (typeof schema === 'string') return AVRO_PRIMITIVES[schema] ?? named.get(schema) ?? 'unknown'
  if (Array.isArray(schema)) {
    const branches = schema.map((branch) => avroType(branch, named, indent))
    // avsc unwraps a union of null and one type; other unions come as { branch name: value }.
    if (schema.length === 2 && schema.includes('null')) return branches.join(' | ')
    return schema
      .map((branch, i) =>
        branch === 'null' ? 'null' : `{ ${JSON.stringify(avroBranchName(branch))}: ${branches[i]} }`,
      )
      .join(' | ')
  }
  if (typeof schema !== 'object' || schema === null) return 'unknown'
  const s = schema as Record<string, unknown>
  let type: string
  switch (s.type) {
    case 'record':
    case 'error': {
      const fields = Array.isArray(s.fields) ? (s.fields as { name: string; type: unknown }[]) : []
      const inner = `${indent}  `
      // Named before its fields: a record may refer to itself.
      if (typeof s.name === 'string') named.set(s.name, 'unknown')
      type = `{\n${fields.map((f) => `${inner}${property(f.name)}: ${avroType(f.type, named, inner)}\n`).join('')}${indent}}`
      break
    }
    case 'enum':
      type = Array.isArray(s.symbols) ? s.symbols.map((x) => JSON.stringify(x)).join(' | ') : 'string'
      break
    case 'fixed':
      type = 'Buffer'
      break
    case 'array':
      return `Array<${avroType(s.items, named, indent)}>`
    case 'map':
      return `Record<string, ${avroType(s.values, named, indent)}>`
    default:
      return avroType(s.type, named, indent)
  }
  if (typeof s.name === 'string') {
    named.set(s.name, type)
    if (typeof s.namespace === 'string') named.set(`${s.namespace}.${s.name}`, type)
  }
  return type
}

function avroBranchName(branch: unknown): string {
  if (typeof branch === 'string') return branch
  const s = branch as { type?: unknown; name?: unknown; namespace?: unknown }
  if (typeof s.name === 'string') return typeof s.namespace === 'string' ? `${s.namespace}.${s.name}` : s.name
  return String(s.type)
}

/** `root` is the whole document, for local references (`#/$defs/…`); a reference in a cycle is `unknown`. */
function jsonSchemaType(
  schema: unknown,
  indent: string,
  root: unknown,
  seen: readonly string[] = [],
): string {
  const type = (sub: unknown, at = indent) => jsonSchemaType(sub, at, root, seen)
  if (
    typeof schema === 'object' &&
    schema !== null &&
    typeof (schema as { $ref?: unknown }).$ref === 'string'
  ) {
    const ref = (schema as { $ref: string }).$ref
    if (!ref.startsWith('#/') || seen.includes(ref)) return 'unknown'
    let target: unknown = root
    for (const part of ref.slice(2).split('/'))
      target = (target as Record<string, unknown> | undefined)?.[
        part.replaceAll('~1', '/').replaceAll('~0', '~')
      ]
    return jsonSchemaType(target, indent, root, [...seen, ref])
  }
  if (schema === true || schema === undefined) return 'unknown'
  if (schema === false) return 'never'
  if (typeof schema !== 'object' || schema === null) return 'unknown'
  const s = schema as Record<string, unknown>
  if ('const' in s) return JSON.stringify(s.const)
  if (Array.isArray(s.enum)) return s.enum.map((x) => JSON.stringify(x)).join(' | ')
  for (const key of ['oneOf', 'anyOf'] as const)
    if (Array.isArray(s[key])) return (s[key] as unknown[]).map((x) => type(x)).join(' | ')
  const types = Array.isArray(s.type) ? (s.type as unknown[]) : s.type === undefined ? [] : [s.type]
  if (types.length === 0) return s.properties ? jsonObjectType(s, indent, type) : 'unknown'
  return types
    .map((name) => {
      switch (name) {
        case 'string':
          return 'string'
        case 'number':
        case 'integer':
          return 'number'
        case 'boolean':
          return 'boolean'
        case 'null':
          return 'null'
        case 'array':
          return `Array<${type(s.items)}>`
        case 'object':
          return jsonObjectType(s, indent, type)
        default:
          return 'unknown'
      }
    })
    .join(' | ')
}

function jsonObjectType(
  s: Record<string, unknown>,
  indent: string,
  type: (sub: unknown, indent: string) => string,
): string {
  const properties = (s.properties ?? {}) as Record<string, unknown>
  const required = new Set(Array.isArray(s.required) ? (s.required as string[]) : [])
  const inner = `${indent}  `
  const lines = Object.entries(properties).map(
    ([name, value]) => `${inner}${property(name)}${required.has(name) ? '' : '?'}: ${type(value, inner)}\n`,
  )
  if (s.additionalProperties !== false && lines.length === 0) return 'Record<string, unknown>'
  return `{\n${lines.join('')}${indent}}`
}

const PROTOBUF_SCALARS: Record<string, string> = {
  double: 'number',
  float: 'number',
  int32: 'number',
  uint32: 'number',
  sint32: 'number',
  fixed32: 'number',
  sfixed32: 'number',
  int64: 'number',
  uint64: 'number',
  sint64: 'number',
  fixed64: 'number',
  sfixed64: 'number',
  bool: 'boolean',
  string: 'string',
  bytes: 'Buffer',
}

/** The file's first message, as protobuf-codec.ts encodes and decodes it. */
function protobufType(text: string): string {
  let root: protobuf.Root
  let pkg: string | undefined
  try {
    const parsed = protobuf.parse(text, { keepCase: true })
    root = parsed.root
    pkg = parsed.package ?? undefined
    root.resolveAll()
  } catch (error) {
    throw new UsageError(`Invalid Protobuf schema: ${(error as Error).message}`, error)
  }
  const top = pkg ? root.lookup(pkg) : root
  const first =
    top instanceof protobuf.Namespace
      ? top.nestedArray.find((n): n is protobuf.Type => n instanceof protobuf.Type)
      : undefined
  if (!first) throw new UsageError('Invalid Protobuf schema: it declares no message.')
  return messageType(first, '', new Set())
}

function messageType(type: protobuf.Type, indent: string, open: Set<protobuf.Type>): string {
  if (open.has(type)) return 'unknown'
  open.add(type)
  const inner = `${indent}  `
  const lines = type.fieldsArray.map((field) => {
    const value = fieldType(field, inner, open)
    if (field.map) return `${inner}${property(field.name)}: Record<string, ${value}>\n`
    if (field.repeated) return `${inner}${property(field.name)}: Array<${value}>\n`
    // proto3 `optional` fields come only when set; message fields as null when unset.
    if (field.resolvedType instanceof protobuf.Type)
      return `${inner}${property(field.name)}: ${value} | null\n`
    if (field.hasPresence) return `${inner}${property(field.name)}?: ${value}\n`
    return `${inner}${property(field.name)}: ${value}\n`
  })
  open.delete(type)
  return `{\n${lines.join('')}${indent}}`
}

function fieldType(field: protobuf.Field, indent: string, open: Set<protobuf.Type>): string {
  const resolved = field.resolvedType
  if (resolved instanceof protobuf.Enum)
    return Object.keys(resolved.values)
      .map((name) => JSON.stringify(name))
      .join(' | ')
  if (resolved instanceof protobuf.Type) return messageType(resolved, indent, open)
  return PROTOBUF_SCALARS[field.type] ?? 'unknown'
}

/** A property name, quoted when it is not an identifier. */
function property(name: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? name : JSON.stringify(name)
}
