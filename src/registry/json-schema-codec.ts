import { fromJsonSchema, type JsonSchemaDocument } from '../dsl/parse.ts'
import { UsageError } from '../errors.ts'
import type { RecordLimits } from '../plan/record-limits.ts'
import type { Codec } from './codec.ts'

/** JSON Schema: the payload is UTF-8 JSON, validated with ajv exactly as `fromJsonSchema` does. */
export function jsonSchemaCodec(text: string, limits: RecordLimits): Codec {
  let document: JsonSchemaDocument
  try {
    document = JSON.parse(text) as JsonSchemaDocument
  } catch (error) {
    throw new UsageError(`Invalid JSON Schema (not JSON): ${(error as Error).message}`, error)
  }
  const parser = fromJsonSchema(document)
  return {
    decode: (payload) => parser.validate(payload, limits),
    encode(value) {
      const bytes = Buffer.from(JSON.stringify(value))
      const checked = parser.validate(bytes, limits)
      if (!checked.ok)
        throw new UsageError(`Value does not fit the JSON Schema ${parser.name}: ${checked.reason}`)
      return bytes
    },
  }
}
