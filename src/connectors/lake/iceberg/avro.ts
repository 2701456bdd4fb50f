import { Readable } from 'node:stream'
import avro from 'avsc'

type EncoderOptions = ConstructorParameters<typeof avro.streams.BlockEncoder>[1]

/** An Avro schema as plain JSON: Iceberg's `field-id` attributes must reach the file header unchanged. */
export type AvroSchema = Readonly<Record<string, unknown>>

/**
 * Encodes `records` as an Avro object container file (deflate blocks). avsc is given the plain schema JSON,
 * not a parsed Type: it then writes that JSON to the header as is, and readers such as PyIceberg and
 * Iceberg's Java library find each field's `field-id` there (from a Type avsc drops them).
 */
export async function encodeAvroFile(
  schema: AvroSchema,
  records: readonly unknown[],
  metadata: Readonly<Record<string, string>>,
): Promise<Buffer> {
  const meta: Record<string, Buffer> = {}
  for (const [key, value] of Object.entries(metadata)) meta[key] = Buffer.from(value)
  // avsc takes file metadata (its types omit the option): Iceberg keeps the table schema and spec there.
  const options = { codec: 'deflate', metadata: meta, writeHeader: 'auto' } as EncoderOptions
  const encoder = new avro.streams.BlockEncoder(schema as avro.Schema, options)
  const chunks: Buffer[] = []
  const done = new Promise<void>((resolve, reject) => {
    encoder.on('data', (chunk: Buffer) => chunks.push(chunk))
    encoder.on('end', resolve)
    encoder.on('error', reject)
  })
  for (const record of records) encoder.write(record)
  encoder.end()
  await done
  return Buffer.concat(chunks)
}

/** Decodes an Avro object container file with the schema in its own header. */
export async function decodeAvroFile(bytes: Uint8Array): Promise<Record<string, unknown>[]> {
  const decoder = new avro.streams.BlockDecoder()
  const records: Record<string, unknown>[] = []
  await new Promise<void>((resolve, reject) => {
    decoder.on('data', (record: Record<string, unknown>) => records.push(record))
    decoder.on('end', resolve)
    decoder.on('error', reject)
    Readable.from([Buffer.from(bytes)]).pipe(decoder)
  })
  return records
}
