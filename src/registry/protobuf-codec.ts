import protobuf from 'protobufjs'
import { JsonLimitsChecker } from '../dsl/json-limits.ts'
import { UsageError } from '../errors.ts'
import type { RecordLimits } from '../plan/record-limits.ts'
import { type Codec, toPlain } from './codec.ts'
import { readIndexes, writeIndexes } from './message-indexes.ts'

/** How decoded messages become values: field names as in the .proto, enums by name, 64-bit integers as numbers. */
const TO_OBJECT: protobuf.IConversionOptions = { enums: String, longs: Number, defaults: true, oneofs: false }

/**
 * Protobuf with protobufjs, parsing the registry's .proto text. The message type is the one the payload's
 * index path names; encode writes the file's first message. Proto3 scalars come with their zero value when
 * unset (the wire cannot tell), message fields as null, and `optional` fields only when set.
 */
export function protobufCodec(text: string, limits: RecordLimits): Codec {
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
  const messages = (ns: protobuf.ReflectionObject | null): protobuf.Type[] =>
    ns instanceof protobuf.Namespace
      ? ns.nestedArray.filter((n): n is protobuf.Type => n instanceof protobuf.Type)
      : []
  const types = new Map<string, protobuf.Type | undefined>()
  const typeAt = (path: readonly number[]): protobuf.Type | undefined => {
    const key = path.join('.')
    if (types.has(key)) return types.get(key)
    let found: protobuf.Type | undefined
    let within: protobuf.ReflectionObject | null = top
    for (const index of path) {
      found = messages(within)[index]
      if (!found) break
      within = found
    }
    types.set(key, found)
    return found
  }
  const first = typeAt([0])
  if (!first) throw new UsageError('Invalid Protobuf schema: it declares no message.')
  const checker = new JsonLimitsChecker(limits)
  return {
    decode(payload) {
      const indexes = readIndexes(payload)
      if (!indexes.ok) return indexes
      const type = typeAt(indexes.path)
      if (!type)
        return {
          ok: false,
          reason: `protobuf message index [${indexes.path.join(', ')}] is not in the schema`,
        }
      let value: unknown
      try {
        value = toPlain(type.toObject(type.decode(indexes.rest), TO_OBJECT))
      } catch (error) {
        return { ok: false, reason: `protobuf payload does not decode: ${(error as Error).message}` }
      }
      const problem = checker.check(value)
      return problem === undefined ? { ok: true, value } : { ok: false, reason: problem }
    },
    encode(value) {
      const problem = first.verify(first.fromObject(value as Record<string, unknown>))
      if (problem) throw new UsageError(`Value does not fit the Protobuf message ${first.name}: ${problem}`)
      const bytes = first.encode(first.fromObject(value as Record<string, unknown>)).finish()
      return Buffer.concat([writeIndexes([0]), bytes])
    },
  }
}
