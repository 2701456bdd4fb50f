import { randomInt, randomUUID } from 'node:crypto'
import { SluiceError, UsageError } from '../../../errors.ts'
import type { S3Options } from '../storage-s3.ts'
import type { IcebergCatalogOptions } from './catalog.ts'
import { type LiveDataFile, liveDataFiles } from './live-files.ts'
import {
  ADDED,
  type DataFile,
  DELETED,
  EXISTING,
  encodeManifestEntries,
  encodeManifestList,
  type ManifestEntry,
  type ManifestListEntry,
} from './manifests.ts'
import { currentSchema, currentSnapshot, metadataVersion, type TableMetadata } from './metadata.ts'
import { type OpenTable, openTable } from './open-table.ts'
import { rewriteFiles } from './rewrite-files.ts'

export interface CompactOptions {
  /** The table, as lake({ format: 'iceberg', catalog }) names it. */
  readonly catalog: IcebergCatalogOptions
  /** S3 client options, for a table in S3. */
  readonly s3?: S3Options
  /** Size of the files written, and what counts as small: under 3/4 of it. Default 128 MiB. */
  readonly targetFileBytes?: number
  /** Commit attempts when writers keep committing first. Default 20. */
  readonly maxAttempts?: number
}

export interface CompactionResult {
  /** The replace snapshot committed, or undefined when no partition had two small files. */
  readonly snapshotId: number | undefined
  readonly rewrittenFiles: number
  readonly addedFiles: number
  /** Rows in the rewritten files (the same rows are in the added ones). */
  readonly rows: number
  /** Commit attempts: more than 1 when a writer committed while the files were rewritten. */
  readonly attempts: number
}

const DEFAULT_TARGET_FILE_BYTES = 128 * 1024 * 1024
const SMALL = 0.75

/**
 * Rewrites the small data files of each partition of an Iceberg table into files of about targetFileBytes,
 * committed as one `replace` snapshot by the catalog's compare-and-swap, as Iceberg's rewrite-data-files does:
 * 1. plan on the current snapshot: per partition, the files under 3/4 of the target, when there are two or more;
 * 2. rewrite them (new files `compact-<uuid>-<n>.parquet` beside them, rows counted);
 * 3. commit: one manifest per partition spec listing every live file (rewritten ones DELETED, new ones ADDED,
 *    the rest EXISTING), so the snapshot also merges the table's manifests into one; the swap is the commit.
 * A writer that commits meanwhile makes the swap fail: the commit is built again on the writer's snapshot
 * (its files kept as they are), since appends never touch the rewritten files. If another compaction has
 * rewritten any of them meanwhile, this one gives up and deletes its new files: no row is lost or doubled
 * either way. The rewritten files stay on disk for older snapshots (expiring snapshots is not built).
 */
export async function compactIcebergTable(options: CompactOptions): Promise<CompactionResult> {
  const target = options.targetFileBytes ?? DEFAULT_TARGET_FILE_BYTES
  if (!(target > 0)) throw new UsageError('lake compact: targetFileBytes must be positive.')
  const table = await openTable(options.catalog, options.s3)
  try {
    const groups = plan(await liveDataFiles(table.files, table.metadata), target)
    if (groups.length === 0)
      return { snapshotId: undefined, rewrittenFiles: 0, addedFiles: 0, rows: 0, attempts: 0 }
    const schema = currentSchema(table.metadata)
    const added: DataFile[] = []
    const rewritten = new Set<string>()
    try {
      for (const group of groups) {
        const key = table.files.key(group[0]?.path as string)
        const folder = key.slice(0, key.lastIndexOf('/') + 1)
        const prefix = `compact-${randomUUID()}-`
        added.push(...(await rewriteFiles(table, group, schema, folder, prefix, target)))
        for (const file of group) rewritten.add(file.path)
      }
      const { snapshotId, attempts } = await commitReplace(table, rewritten, added, options.maxAttempts ?? 20)
      const rows = added.reduce((n, f) => n + f.rows, 0)
      return { snapshotId, rewrittenFiles: rewritten.size, addedFiles: added.length, rows, attempts }
    } catch (error) {
      for (const file of added) await table.storage.delete(table.files.key(file.path))
      throw error
    }
  } finally {
    table.catalog.close()
    table.storage.close?.()
  }
}

/** Per spec and partition, the small files, where there are at least two. */
function plan(files: readonly LiveDataFile[], target: number): LiveDataFile[][] {
  const groups = new Map<string, LiveDataFile[]>()
  for (const file of files) {
    if (file.bytes >= target * SMALL) continue
    const key = JSON.stringify([file.specId, file.partition])
    groups.set(key, [...(groups.get(key) ?? []), file])
  }
  return [...groups.values()].filter((g) => g.length >= 2)
}

async function commitReplace(
  table: OpenTable,
  rewritten: ReadonlySet<string>,
  added: readonly DataFile[],
  maxAttempts: number,
): Promise<{ snapshotId: number; attempts: number }> {
  let base = table.metadata
  let location = table.location
  for (let attempt = 1; ; attempt++) {
    const live = await liveDataFiles(table.files, base)
    const gone = [...rewritten].filter((path) => !live.some((f) => f.path === path))
    if (gone.length > 0)
      throw conflict(
        table,
        `${gone.length} of the files it rewrote were rewritten meanwhile (another compaction)`,
      )
    const written: string[] = []
    const put = async (key: string, bytes: Uint8Array) => {
      await table.storage.put(key, bytes)
      written.push(key)
      return table.files.uri(key)
    }
    const snapshotId = randomInt(1, 2 ** 47)
    const sequenceNumber = base['last-sequence-number'] + 1
    const parent = currentSnapshot(base)
    const manifests: ManifestListEntry[] = []
    const specId = base['default-spec-id']
    for (const spec of base['partition-specs']) {
      const entries: ManifestEntry[] = live
        .filter((f) => f.specId === spec['spec-id'])
        .map((f) => ({
          status: rewritten.has(f.path) ? DELETED : EXISTING,
          file: f,
          snapshotId: rewritten.has(f.path) ? snapshotId : f.snapshotId,
          sequenceNumber: f.sequenceNumber,
          fileSequenceNumber: f.fileSequenceNumber,
        }))
      if (spec['spec-id'] === specId) for (const file of added) entries.push({ status: ADDED, file })
      if (entries.length === 0) continue
      const bytes = await encodeManifestEntries(entries, spec, currentSchema(base))
      const path = await put(`metadata/${randomUUID()}-c${attempt}.avro`, bytes)
      manifests.push(listEntry(path, bytes.length, spec['spec-id'], snapshotId, sequenceNumber, entries))
    }
    const listKey = `metadata/snap-${snapshotId}-${attempt}-${randomUUID()}.avro`
    const listUri = await put(
      listKey,
      await encodeManifestList(manifests, {
        id: snapshotId,
        parentId: parent?.['snapshot-id'],
        sequenceNumber,
      }),
    )
    const now = Date.now()
    const removed = live.filter((f) => rewritten.has(f.path))
    const sum = (files: readonly { rows: number; bytes: number }[], key: 'rows' | 'bytes') =>
      files.reduce((n, f) => n + f[key], 0)
    const total = (key: string) => Number(parent?.summary[key] ?? 0)
    const snapshot = {
      'snapshot-id': snapshotId,
      ...(parent ? { 'parent-snapshot-id': parent['snapshot-id'] } : {}),
      'sequence-number': sequenceNumber,
      'timestamp-ms': now,
      'manifest-list': listUri,
      'schema-id': base['current-schema-id'],
      summary: {
        operation: 'replace',
        'added-data-files': String(added.length),
        'deleted-data-files': String(removed.length),
        'added-records': String(sum(added, 'rows')),
        'deleted-records': String(sum(removed, 'rows')),
        'added-files-size': String(sum(added, 'bytes')),
        'removed-files-size': String(sum(removed, 'bytes')),
        'total-records': String(total('total-records')),
        'total-files-size': String(total('total-files-size') + sum(added, 'bytes') - sum(removed, 'bytes')),
        'total-data-files': String(live.length - removed.length + added.length),
        'total-delete-files': '0',
        'total-position-deletes': '0',
        'total-equality-deletes': '0',
      },
    }
    const metadata: TableMetadata = {
      ...base,
      'last-sequence-number': sequenceNumber,
      'last-updated-ms': now,
      'current-snapshot-id': snapshotId,
      snapshots: [...base.snapshots, snapshot],
      'snapshot-log': [...base['snapshot-log'], { 'snapshot-id': snapshotId, 'timestamp-ms': now }],
      'metadata-log': [
        ...base['metadata-log'],
        { 'metadata-file': location, 'timestamp-ms': base['last-updated-ms'] },
      ],
      refs: { ...base.refs, main: { 'snapshot-id': snapshotId, type: 'branch' } },
    }
    const version = metadataVersion(location) + 1
    const uri = await put(
      `metadata/${String(version).padStart(5, '0')}-${randomUUID()}.metadata.json`,
      Buffer.from(JSON.stringify(metadata, null, 1)),
    )
    if (await table.catalog.swap(location, uri)) return { snapshotId, attempts: attempt }
    // A writer committed first: nothing references this attempt's files; build the commit again on its snapshot.
    for (const key of written) await table.storage.delete(key)
    if (attempt >= maxAttempts) throw conflict(table, 'writers kept committing first')
    const next = await table.catalog.load()
    if (next === undefined) throw conflict(table, 'the table was dropped from the catalog')
    location = next
    base = await table.files.readMetadata(location)
  }
}

function listEntry(
  path: string,
  length: number,
  specId: number,
  snapshotId: number,
  sequenceNumber: number,
  entries: readonly ManifestEntry[],
): ManifestListEntry {
  const of = (status: number) => entries.filter((e) => e.status === status)
  const rows = (list: readonly ManifestEntry[]) => list.reduce((n, e) => n + e.file.rows, 0)
  const liveSequences = entries
    .filter((e) => e.status !== DELETED)
    .map((e) => (e.status === ADDED ? sequenceNumber : (e.sequenceNumber as number)))
  return {
    manifest_path: path,
    manifest_length: length,
    partition_spec_id: specId,
    content: 0,
    sequence_number: sequenceNumber,
    min_sequence_number: Math.min(sequenceNumber, ...liveSequences),
    added_snapshot_id: snapshotId,
    added_files_count: of(ADDED).length,
    existing_files_count: of(EXISTING).length,
    deleted_files_count: of(DELETED).length,
    added_rows_count: rows(of(ADDED)),
    existing_rows_count: rows(of(EXISTING)),
    deleted_rows_count: rows(of(DELETED)),
    partitions: null,
    key_metadata: null,
  }
}

function conflict(table: OpenTable, why: string): SluiceError {
  return new SluiceError(
    'SLUICE_LAKE_CONFLICT',
    `lake compact: ${table.catalog.description}: nothing was committed: ${why}. Run the compaction again.`,
    { domain: 'external', retryable: true },
  )
}
