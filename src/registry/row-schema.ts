import { UsageError } from '../errors.ts'
import type { FieldType, RowType } from '../plan/row-type.ts'
import type { RegisteredSchema } from './client.ts'
import type { SchemaType } from './schema-type.ts'

/**
 * The schema a sink registers for rows of a declared row type (src/plan/row-type.ts): one field per
 * top-level field, each optional (null or absent), so that a later version adding or dropping a field stays
 * BACKWARD compatible. `json` fields (objects, arrays, mixed kinds) are their JSON text in Avro and
 * Protobuf, which have no "any" type; JSON Schema keeps them as they are. Timestamps are ISO strings.
 */
export function schemaFromRowType(rowType: RowType, type: SchemaType, name: string): RegisteredSchema {
  const fields = [...rowType.fields]
  const bad = fields.map(([field]) => field).filter((field) => !IDENTIFIER.test(field))
  if (bad.length > 0)
    throw new UsageError(
      `The rows of ${rowType.source} have fields no ${type === 'JSON' ? 'schema' : `${type} field`} can be named: ${bad
        .slice(0, 5)
        .map((f) => JSON.stringify(f))
        .join(
          ', ',
        )} (letters, digits and _ only): rename them with a map step, or give registry({ schema }).`,
    )
  if (fields.length === 0)
    throw new UsageError(
      `The rows of ${rowType.source} declare no field types to derive a schema from: give registry({ schema }).`,
    )
  switch (type) {
    case 'AVRO':
      return { schemaType: type, schema: JSON.stringify(avroRecord(fields, name)) }
    case 'PROTOBUF':
      return { schemaType: type, schema: protoFile(fields, name) }
    case 'JSON':
      return { schemaType: type, schema: JSON.stringify(jsonSchema(fields, name)) }
  }
}

/** Avro names and Protobuf identifiers; JSON Schema takes any, but the same rule keeps the formats alike. */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/

/** A record or message name from a topic or subject name: `page-metrics` is `page_metrics`. */
export function schemaName(from: string): string {
  const name = from.replace(/[^A-Za-z0-9_]/g, '_')
  return /^[A-Za-z_]/.test(name) ? name : `_${name}`
}

const AVRO: Readonly<Record<FieldType, string>> = {
  integer: 'long',
  number: 'double',
  timestamp: 'string',
  string: 'string',
  boolean: 'boolean',
  json: 'string',
}

function avroRecord(fields: readonly [string, FieldType][], name: string): unknown {
  return {
    type: 'record',
    name,
    namespace: 'sluice',
    fields: fields.map(([field, type]) => ({ name: field, type: ['null', AVRO[type]], default: null })),
  }
}

const PROTOBUF: Readonly<Record<FieldType, string>> = {
  integer: 'int64',
  number: 'double',
  timestamp: 'string',
  string: 'string',
  boolean: 'bool',
  json: 'string',
}

function protoFile(fields: readonly [string, FieldType][], name: string): string {
  const lines = fields.map(([field, type], i) => `  optional ${PROTOBUF[type]} ${field} = ${i + 1};`)
  return `syntax = "proto3";\npackage sluice;\n\nmessage ${name} {\n${lines.join('\n')}\n}\n`
}

function jsonType(type: FieldType): Record<string, unknown> {
  switch (type) {
    case 'json':
      return {}
    case 'timestamp':
      return { type: ['string', 'null'], format: 'date-time' }
    default:
      return { type: [type, 'null'] }
  }
}

function jsonSchema(fields: readonly [string, FieldType][], name: string): unknown {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: name,
    type: 'object',
    properties: Object.fromEntries(fields.map(([field, type]) => [field, jsonType(type)])),
  }
}
