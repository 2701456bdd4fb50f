import type { GeneratedRecord } from '../clickstream/generator.ts'
import { clickEventSchemaFor } from '../clickstream/registry-schemas.ts'
import { DEFAULT_RECORD_LIMITS } from '../plan/record-limits.ts'
import { RegistryClient, type RegistryConnection } from '../registry/client.ts'
import { codecFor } from '../registry/codec.ts'
import type { RegistryFormat } from '../registry/schema-type.ts'
import { frame } from '../registry/wire-format.ts'

/** Turns a generated (JSON) clickstream record into the record to produce. */
export type RecordEncoder = (record: GeneratedRecord) => GeneratedRecord

/**
 * Registers the clickstream event's schema in `format` under `subject` (or finds it registered) and returns
 * an encoder to the Confluent wire format with its id. Records injected as bad stay the JSON bytes they are:
 * without the magic byte they are what a JSON producer writing to the topic by mistake would send.
 */
export async function registryEncoder(
  format: RegistryFormat,
  connection: RegistryConnection,
  subject: string,
): Promise<{ encode: RecordEncoder; id: number }> {
  const schema = clickEventSchemaFor(format)
  const codec = codecFor(schema, DEFAULT_RECORD_LIMITS)
  const id = await new RegistryClient(connection).register(subject, schema)
  const encode: RecordEncoder = (record) => {
    if (record.injected?.startsWith('bad:')) return record
    const event: unknown = JSON.parse(record.value.toString('utf8'))
    return { ...record, value: frame(id, codec.encode(event)) }
  }
  return { encode, id }
}
