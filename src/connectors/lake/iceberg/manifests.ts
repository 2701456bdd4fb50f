import { type AvroSchema, decodeAvroFile, encodeAvroFile } from './avro.ts'
import type { IcebergField, IcebergSchema, PartitionSpec } from './metadata.ts'

/**
 * Manifests and manifest lists (format v2) as Avro, after https://iceberg.apache.org/spec/#manifests. Field
 * ids are the spec's; a data file added by a snapshot leaves its snapshot id and sequence numbers null, so
 * that they are inherited from the manifest list (the spec's rule for added files): a manifest written once
 * stays valid whichever snapshot finally commits it.
 */

/** A data file written by a batch, as its manifest entry needs it. */
export interface DataFile {
  /** Absolute URI (file:///…, s3://…). */
  readonly path: string
  /** Partition values in spec order. */
  readonly partition: readonly unknown[]
  readonly rows: number
  readonly bytes: number
}

/** An entry of a manifest list, as decoded (fields by name). */
export type ManifestListEntry = Readonly<Record<string, unknown>>

const optional = (type: unknown) => ['null', type]

/** Avro names allow [A-Za-z0-9_] only: others become _x<hex>, as Iceberg's Java library does. */
export function avroName(name: string): string {
  let out = ''
  for (const char of name) {
    if (/[A-Za-z0-9_]/.test(char)) out += char
    else out += `_x${char.codePointAt(0)?.toString(16).toUpperCase()}`
  }
  return /^[0-9]/.test(out) ? `_${out}` : out || '_'
}

function partitionAvroType(transform: string, source: IcebergField | undefined): unknown {
  if (transform === 'day') return { type: 'int', logicalType: 'date' }
  if (transform === 'hour') return 'int'
  switch (source?.type) {
    case 'boolean':
    case 'long':
    case 'double':
    case 'string':
      return source.type
    case 'timestamptz':
      return { type: 'long', logicalType: 'timestamp-micros', 'adjust-to-utc': true }
    default:
      return 'string'
  }
}

function manifestEntrySchema(spec: PartitionSpec, schema: IcebergSchema): AvroSchema {
  const partitionFields = spec.fields.map((f) => ({
    name: avroName(f.name),
    type: optional(
      partitionAvroType(
        f.transform,
        schema.fields.find((c) => c.id === f['source-id']),
      ),
    ),
    default: null,
    'field-id': f['field-id'],
  }))
  return {
    type: 'record',
    name: 'manifest_entry',
    fields: [
      { name: 'status', type: 'int', 'field-id': 0 },
      { name: 'snapshot_id', type: optional('long'), default: null, 'field-id': 1 },
      { name: 'sequence_number', type: optional('long'), default: null, 'field-id': 3 },
      { name: 'file_sequence_number', type: optional('long'), default: null, 'field-id': 4 },
      {
        name: 'data_file',
        'field-id': 2,
        type: {
          type: 'record',
          name: 'r2',
          fields: [
            { name: 'content', type: 'int', 'field-id': 134 },
            { name: 'file_path', type: 'string', 'field-id': 100 },
            { name: 'file_format', type: 'string', 'field-id': 101 },
            {
              name: 'partition',
              type: { type: 'record', name: 'r102', fields: partitionFields },
              'field-id': 102,
            },
            { name: 'record_count', type: 'long', 'field-id': 103 },
            { name: 'file_size_in_bytes', type: 'long', 'field-id': 104 },
          ],
        },
      },
    ],
  }
}

/** The manifest of one append: every file ADDED (status 1), snapshot id and sequence numbers inherited. */
export function encodeManifest(
  files: readonly DataFile[],
  spec: PartitionSpec,
  schema: IcebergSchema,
): Promise<Buffer> {
  return encodeManifestEntries(
    files.map((file) => ({ status: ADDED, file })),
    spec,
    schema,
  )
}

/** Manifest entry status (the spec's): a file kept from an earlier snapshot, added, or removed by this one. */
export const EXISTING = 0
export const ADDED = 1
export const DELETED = 2

/**
 * A manifest entry to write. ADDED entries leave snapshot id and sequence numbers null (inherited from the
 * manifest list); EXISTING and DELETED ones carry them, as the spec requires.
 */
export interface ManifestEntry {
  readonly status: typeof EXISTING | typeof ADDED | typeof DELETED
  readonly file: DataFile
  readonly snapshotId?: number
  readonly sequenceNumber?: number
  readonly fileSequenceNumber?: number
}

export function encodeManifestEntries(
  entries: readonly ManifestEntry[],
  spec: PartitionSpec,
  schema: IcebergSchema,
): Promise<Buffer> {
  const names = spec.fields.map((f) => avroName(f.name))
  const records = entries.map(({ status, file, snapshotId, sequenceNumber, fileSequenceNumber }) => ({
    status,
    snapshot_id: snapshotId ?? null,
    sequence_number: sequenceNumber ?? null,
    file_sequence_number: fileSequenceNumber ?? null,
    data_file: {
      content: 0,
      file_path: file.path,
      file_format: 'PARQUET',
      partition: Object.fromEntries(names.map((name, i) => [name, file.partition[i] ?? null])),
      record_count: file.rows,
      file_size_in_bytes: file.bytes,
    },
  }))
  return encodeAvroFile(manifestEntrySchema(spec, schema), records, {
    schema: JSON.stringify(schema),
    'schema-id': String(schema['schema-id']),
    'partition-spec': JSON.stringify(spec.fields),
    'partition-spec-id': String(spec['spec-id']),
    'format-version': '2',
    content: 'data',
  })
}

const FIELD_SUMMARY = {
  type: 'record',
  name: 'r508',
  fields: [
    { name: 'contains_null', type: 'boolean', 'field-id': 509 },
    { name: 'contains_nan', type: optional('boolean'), default: null, 'field-id': 518 },
    { name: 'lower_bound', type: optional('bytes'), default: null, 'field-id': 510 },
    { name: 'upper_bound', type: optional('bytes'), default: null, 'field-id': 511 },
  ],
}

const MANIFEST_FILE: AvroSchema = {
  type: 'record',
  name: 'manifest_file',
  fields: [
    { name: 'manifest_path', type: 'string', 'field-id': 500 },
    { name: 'manifest_length', type: 'long', 'field-id': 501 },
    { name: 'partition_spec_id', type: 'int', 'field-id': 502 },
    { name: 'content', type: 'int', 'field-id': 517 },
    { name: 'sequence_number', type: 'long', 'field-id': 515 },
    { name: 'min_sequence_number', type: 'long', 'field-id': 516 },
    { name: 'added_snapshot_id', type: 'long', 'field-id': 503 },
    { name: 'added_files_count', type: 'int', 'field-id': 504 },
    { name: 'existing_files_count', type: 'int', 'field-id': 505 },
    { name: 'deleted_files_count', type: 'int', 'field-id': 506 },
    { name: 'added_rows_count', type: 'long', 'field-id': 512 },
    { name: 'existing_rows_count', type: 'long', 'field-id': 513 },
    { name: 'deleted_rows_count', type: 'long', 'field-id': 514 },
    {
      name: 'partitions',
      type: optional({ type: 'array', items: FIELD_SUMMARY, 'element-id': 508 }),
      default: null,
      'field-id': 507,
    },
    { name: 'key_metadata', type: optional('bytes'), default: null, 'field-id': 519 },
  ],
}

/** The manifest-list entry of a manifest written by `snapshotId` at `sequenceNumber`. */
export function manifestListEntry(options: {
  readonly path: string
  readonly length: number
  readonly specId: number
  readonly snapshotId: number
  readonly sequenceNumber: number
  readonly files: readonly DataFile[]
}): ManifestListEntry {
  return {
    manifest_path: options.path,
    manifest_length: options.length,
    partition_spec_id: options.specId,
    content: 0,
    sequence_number: options.sequenceNumber,
    min_sequence_number: options.sequenceNumber,
    added_snapshot_id: options.snapshotId,
    added_files_count: options.files.length,
    existing_files_count: 0,
    deleted_files_count: 0,
    added_rows_count: options.files.reduce((n, f) => n + f.rows, 0),
    existing_rows_count: 0,
    deleted_rows_count: 0,
    partitions: null,
    key_metadata: null,
  }
}

/** A manifest list: the snapshot's manifests (its own first, then its parent's as they were). */
export function encodeManifestList(
  entries: readonly ManifestListEntry[],
  snapshot: { readonly id: number; readonly parentId: number | undefined; readonly sequenceNumber: number },
): Promise<Buffer> {
  const names = new Set((MANIFEST_FILE.fields as { name: string }[]).map((f) => f.name))
  // Entries of a list written elsewhere may lack optional fields (null here) or carry others (dropped).
  const records = entries.map((e) => Object.fromEntries([...names].map((name) => [name, e[name] ?? null])))
  return encodeAvroFile(MANIFEST_FILE, records, {
    'snapshot-id': String(snapshot.id),
    'parent-snapshot-id': snapshot.parentId === undefined ? 'null' : String(snapshot.parentId),
    'sequence-number': String(snapshot.sequenceNumber),
    'format-version': '2',
  })
}

export async function decodeManifestList(bytes: Uint8Array): Promise<ManifestListEntry[]> {
  return decodeAvroFile(bytes)
}
