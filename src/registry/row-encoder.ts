import { SluiceError, UsageError } from '../errors.ts'
import { DEFAULT_RECORD_LIMITS } from '../plan/record-limits.ts'
import type { FieldType, RowType } from '../plan/row-type.ts'
import type { RegisteredSchema, RegistryClient } from './client.ts'
import { codecFor } from './codec.ts'
import { schemaFromRowType, schemaName } from './row-schema.ts'
import { type RegistryFormat, SCHEMA_TYPES } from './schema-type.ts'
import { frame } from './wire-format.ts'

/** How a sink writes rows in the wire format (registry({ type, subject?, schema? })). */
export interface RowEncoderOptions {
  readonly type: RegistryFormat
  /** Default `<topic>-value`, Confluent's TopicNameStrategy. */
  readonly subject?: string | undefined
  /**
   * The schema to write with (Avro as JSON text or an object, .proto source, JSON Schema as text or an
   * object); rows must fit it as they are. Default: derived from the pipeline's row type (row-schema.ts).
   */
  readonly schema?: string | object | undefined
}

/** What the rows reaching the sink are: the output topic and the row type the plan declares. */
export interface RowEncoderTarget {
  readonly topic: string
  readonly rowType: RowType | undefined
}

export type Encoded = { ok: true; value: Buffer } | { ok: false; reason: string }

/** A registered schema and the encoding of rows in it; a row that does not fit gets the reason. */
export interface RowEncoder {
  readonly subject: string
  readonly id: number
  encode(row: unknown): Encoded
}

/**
 * Registers the output subject's schema (or finds it registered) and returns its encoder. The registry
 * checks the subject's compatibility level: an incompatible schema is refused here, at the sink's start,
 * with the registry's message (a RegistryError, exit 2), before anything is written.
 */
export async function openRowEncoder(
  client: RegistryClient,
  options: RowEncoderOptions,
  target: RowEncoderTarget,
): Promise<RowEncoder> {
  const subject = options.subject ?? `${target.topic}-value`
  const schemaType = SCHEMA_TYPES[options.type]
  let schema: RegisteredSchema
  let toWire: (row: unknown) => unknown = (row) => row
  if (options.schema !== undefined) {
    const text = typeof options.schema === 'string' ? options.schema : JSON.stringify(options.schema)
    schema = { schemaType, schema: text }
  } else if (target.rowType) {
    schema = schemaFromRowType(target.rowType, schemaType, schemaName(target.topic))
    if (schemaType !== 'JSON') toWire = declaredFields(target.rowType, schemaType === 'AVRO')
  } else
    throw new UsageError(
      `The Kafka sink to ${target.topic} writes ${options.type} with a schema derived from the pipeline's row type, and its rows have none (a map or another step building new values comes after the last parse): give registry({ schema }) the schema to write with.`,
    )
  const codec = codecFor(schema, DEFAULT_RECORD_LIMITS)
  const id = await client.register(subject, schema)
  return {
    subject,
    id,
    encode(row) {
      try {
        return { ok: true, value: frame(id, codec.encode(toWire(row))) }
      } catch (error) {
        if (error instanceof SluiceError && error.domain === 'user')
          return { ok: false, reason: `${subject} (schema id ${id}): ${error.message}` }
        throw error
      }
    },
  }
}

/**
 * A row as the derived Avro or Protobuf schema takes it: only its declared fields (another one would be lost,
 * so the row is refused), JSON fields as their text, Dates as ISO strings, absent as null (Avro) or unset.
 */
function declaredFields(rowType: RowType, nulls: boolean): (row: unknown) => unknown {
  const fields: ReadonlyMap<string, FieldType> = rowType.fields
  return (row) => {
    if (typeof row !== 'object' || row === null || Array.isArray(row))
      throw new UsageError(`the row is ${Array.isArray(row) ? 'an array' : String(row)}, not an object`)
    const values = row as Record<string, unknown>
    for (const key of Object.keys(values))
      if (!fields.has(key) && values[key] !== undefined)
        throw new UsageError(
          `the row has a field "${key}" the schema derived from ${rowType.source} does not declare (its type is not pinned down there): declare it, or give registry({ schema })`,
        )
    const out: Record<string, unknown> = {}
    for (const [field, type] of fields) {
      const value = values[field]
      if (value === null || value === undefined) {
        if (nulls) out[field] = null
      } else if (type === 'json') out[field] = JSON.stringify(value)
      else out[field] = value instanceof Date ? value.toISOString() : value
    }
    return out
  }
}
