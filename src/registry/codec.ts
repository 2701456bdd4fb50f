import type { Validation } from '../dsl/parse.ts'
import type { RecordLimits } from '../plan/record-limits.ts'
import { avroCodec } from './avro-codec.ts'
import type { RegisteredSchema } from './client.ts'
import { jsonSchemaCodec } from './json-schema-codec.ts'
import { protobufCodec } from './protobuf-codec.ts'

/**
 * One registered schema, compiled: decodes a wire-format payload (after the 5-byte header) to a plain value
 * (objects, arrays, strings, numbers, booleans, null, Buffers for bytes), and encodes one.
 */
export interface Codec {
  /** A value, or the reason the payload does not decode (for a dead letter). */
  decode(payload: Buffer): Validation
  /** The payload bytes (after the header); throws a SluiceError naming what does not fit the schema. */
  encode(value: unknown): Buffer
}

/** Compiles a registry schema; throws a UsageError when the schema cannot be compiled. */
export function codecFor(schema: RegisteredSchema, limits: RecordLimits): Codec {
  switch (schema.schemaType) {
    case 'AVRO':
      return avroCodec(schema.schema, limits)
    case 'PROTOBUF':
      return protobufCodec(schema.schema, limits)
    case 'JSON':
      return jsonSchemaCodec(schema.schema, limits)
  }
}

/** Avro records and Protobuf messages come as class instances; rows are plain objects. */
export function toPlain(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return value
  if (Array.isArray(value)) return value.map(toPlain)
  const plain: Record<string, unknown> = {}
  for (const key of Object.keys(value)) plain[key] = toPlain((value as Record<string, unknown>)[key])
  return plain
}
