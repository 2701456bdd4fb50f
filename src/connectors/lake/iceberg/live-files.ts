import { SluiceError } from '../../../errors.ts'
import { decodeAvroFile } from './avro.ts'
import { ADDED, avroName, DELETED, decodeManifestList, type ManifestListEntry } from './manifests.ts'
import { currentSnapshot, type TableMetadata } from './metadata.ts'
import type { TableFiles } from './table-files.ts'

/** A data file of the current snapshot, with what it inherited from its manifest made explicit. */
export interface LiveDataFile {
  readonly path: string
  /** Partition values in the order of its spec's fields. */
  readonly partition: readonly unknown[]
  readonly specId: number
  readonly rows: number
  readonly bytes: number
  /** The snapshot that added the file. */
  readonly snapshotId: number
  readonly sequenceNumber: number
  readonly fileSequenceNumber: number
}

type Record_ = Readonly<Record<string, unknown>>

/**
 * The data files a reader of the table's current snapshot reads: every manifest of its manifest list, every
 * entry not DELETED, with null snapshot ids and sequence numbers inherited from the manifest list (the spec's
 * rule). A table with delete files (row-level deletes, which Sluice never writes) is refused: reading only its
 * data files would show deleted rows.
 */
export async function liveDataFiles(files: TableFiles, metadata: TableMetadata): Promise<LiveDataFile[]> {
  const snapshot = currentSnapshot(metadata)
  if (!snapshot) return []
  const list = await decodeManifestList(await files.read(snapshot['manifest-list']))
  const out: LiveDataFile[] = []
  for (const manifest of list) out.push(...(await manifestFiles(files, metadata, manifest)))
  return out
}

async function manifestFiles(
  files: TableFiles,
  metadata: TableMetadata,
  manifest: ManifestListEntry,
): Promise<LiveDataFile[]> {
  const path = String(manifest.manifest_path)
  if (Number(manifest.content ?? 0) !== 0)
    throw unsupported(path, 'it lists delete files (row-level deletes)')
  const specId = Number(manifest.partition_spec_id)
  const spec = metadata['partition-specs'].find((s) => s['spec-id'] === specId)
  if (!spec) throw unsupported(path, `its partition spec ${specId} is not in the table metadata`)
  const names = spec.fields.map((f) => avroName(f.name))
  const out: LiveDataFile[] = []
  for (const entry of await decodeAvroFile(await files.read(path))) {
    const status = Number(entry.status)
    if (status === DELETED) continue
    const file = entry.data_file as Record_
    if (Number(file.content ?? 0) !== 0) throw unsupported(path, 'it lists delete files (row-level deletes)')
    if (String(file.file_format).toUpperCase() !== 'PARQUET')
      throw unsupported(path, `${String(file.file_path)} is ${String(file.file_format)}, not Parquet`)
    const inherited = (value: unknown, fallback: unknown) =>
      Number(value === null || value === undefined ? fallback : value)
    const sequenceNumber = inherited(
      entry.sequence_number,
      status === ADDED ? manifest.sequence_number : undefined,
    )
    const partition = (file.partition ?? {}) as Record_
    out.push({
      path: String(file.file_path),
      partition: names.map((name) => partition[name] ?? null),
      specId,
      rows: Number(file.record_count),
      bytes: Number(file.file_size_in_bytes),
      snapshotId: inherited(entry.snapshot_id, manifest.added_snapshot_id),
      sequenceNumber,
      fileSequenceNumber: inherited(entry.file_sequence_number, sequenceNumber),
    })
  }
  return out
}

function unsupported(path: string, why: string): SluiceError {
  return new SluiceError('SLUICE_ICEBERG_UNSUPPORTED', `lake: cannot read the manifest ${path}: ${why}.`, {
    domain: 'user',
  })
}
