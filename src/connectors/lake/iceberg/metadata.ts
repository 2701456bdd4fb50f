/**
 * Iceberg table metadata (format version 2) as JSON: the shapes Sluice reads and writes, after the table
 * spec (https://iceberg.apache.org/spec/#table-metadata). Only primitive column types are written: nested
 * values are kept as JSON text in string columns (see columns.ts).
 */

export type IcebergType = 'boolean' | 'long' | 'double' | 'string' | 'timestamptz'

export interface IcebergField {
  readonly id: number
  readonly name: string
  readonly required: boolean
  readonly type: IcebergType | Readonly<Record<string, unknown>>
  readonly doc?: string
}

export interface IcebergSchema {
  readonly type: 'struct'
  readonly 'schema-id': number
  readonly fields: readonly IcebergField[]
}

export type PartitionTransform = 'identity' | 'day' | 'hour'

export interface PartitionField {
  readonly 'source-id': number
  readonly 'field-id': number
  readonly name: string
  readonly transform: string
}

export interface PartitionSpec {
  readonly 'spec-id': number
  readonly fields: readonly PartitionField[]
}

export interface Snapshot {
  readonly 'snapshot-id': number
  readonly 'parent-snapshot-id'?: number
  readonly 'sequence-number': number
  readonly 'timestamp-ms': number
  readonly 'manifest-list': string
  readonly summary: Readonly<Record<string, string>> & { readonly operation: string }
  readonly 'schema-id'?: number
}

export interface TableMetadata {
  readonly 'format-version': 2
  readonly 'table-uuid': string
  readonly location: string
  readonly 'last-sequence-number': number
  readonly 'last-updated-ms': number
  readonly 'last-column-id': number
  readonly schemas: readonly IcebergSchema[]
  readonly 'current-schema-id': number
  readonly 'partition-specs': readonly PartitionSpec[]
  readonly 'default-spec-id': number
  readonly 'last-partition-id': number
  readonly properties: Readonly<Record<string, string>>
  readonly 'current-snapshot-id'?: number | null
  readonly snapshots: readonly Snapshot[]
  readonly 'snapshot-log': readonly { readonly 'snapshot-id': number; readonly 'timestamp-ms': number }[]
  readonly 'metadata-log': readonly { readonly 'metadata-file': string; readonly 'timestamp-ms': number }[]
  readonly 'sort-orders': readonly { readonly 'order-id': number; readonly fields: readonly unknown[] }[]
  readonly 'default-sort-order-id': number
  readonly refs?: Readonly<Record<string, { readonly 'snapshot-id': number; readonly type: string }>>
}

/** Partition field ids start here (the spec's convention, so that they never collide with column ids). */
export const FIRST_PARTITION_FIELD_ID = 1000

export function currentSchema(metadata: TableMetadata): IcebergSchema {
  const schema = metadata.schemas.find((s) => s['schema-id'] === metadata['current-schema-id'])
  if (!schema) throw new Error(`table metadata has no schema ${metadata['current-schema-id']}`)
  return schema
}

export function defaultSpec(metadata: TableMetadata): PartitionSpec {
  const spec = metadata['partition-specs'].find((s) => s['spec-id'] === metadata['default-spec-id'])
  if (!spec) throw new Error(`table metadata has no partition spec ${metadata['default-spec-id']}`)
  return spec
}

export function currentSnapshot(metadata: TableMetadata): Snapshot | undefined {
  const id = metadata['current-snapshot-id']
  return id === undefined || id === null || id === -1
    ? undefined
    : metadata.snapshots.find((s) => s['snapshot-id'] === id)
}

/** The current snapshot and its ancestors, newest first. */
export function* ancestry(metadata: TableMetadata): Generator<Snapshot> {
  const byId = new Map(metadata.snapshots.map((s) => [s['snapshot-id'], s]))
  let snapshot = currentSnapshot(metadata)
  while (snapshot) {
    yield snapshot
    const parent = snapshot['parent-snapshot-id']
    snapshot = parent === undefined ? undefined : byId.get(parent)
  }
}

/** The version number a metadata file's name starts with (`00007-<uuid>.metadata.json`), else 0. */
export function metadataVersion(uri: string): number {
  const match = /\/(\d+)-[^/]*\.metadata\.json$/.exec(uri)
  return match ? Number(match[1]) : 0
}
