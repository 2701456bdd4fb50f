import avro from 'avsc'
import { JsonLimitsChecker } from '../dsl/json-limits.ts'
import { UsageError } from '../errors.ts'
import type { RecordLimits } from '../plan/record-limits.ts'
import { type Codec, toPlain } from './codec.ts'

/**
 * Avro with avsc, the writer's schema being the one the record's id names. Unions of null and one type come
 * as the value or null (avsc's "auto" unwrapping); other unions as `{ type: value }`.
 */
export function avroCodec(text: string, limits: RecordLimits): Codec {
  let type: avro.Type
  try {
    // avsc wants the schema as JSON, not as the registry's string.
    type = avro.Type.forSchema(JSON.parse(text) as avro.Schema)
  } catch (error) {
    throw new UsageError(`Invalid Avro schema: ${(error as Error).message}`, error)
  }
  const checker = new JsonLimitsChecker(limits)
  return {
    decode(payload) {
      let value: unknown
      try {
        const decoded = type.decode(payload, 0)
        if (decoded.offset < 0) return { ok: false, reason: 'avro payload cut off' }
        if (decoded.offset !== payload.length)
          return {
            ok: false,
            reason: `avro payload has ${payload.length - decoded.offset} bytes after the value`,
          }
        value = toPlain(decoded.value)
      } catch (error) {
        return { ok: false, reason: `avro payload does not decode: ${(error as Error).message}` }
      }
      const problem = checker.check(value)
      return problem === undefined ? { ok: true, value } : { ok: false, reason: problem }
    },
    encode(value) {
      const paths: string[] = []
      if (!type.isValid(value, { errorHook: (path) => paths.push(path.join('.') || '(root)') }))
        throw new UsageError(
          `Value does not fit the Avro schema ${schemaName(type)} at ${paths.slice(0, 5).join(', ')}`,
        )
      return type.toBuffer(value)
    },
  }
}

function schemaName(type: avro.Type): string {
  return type.name ?? type.typeName
}
