import { randomUUID } from 'node:crypto'
import { SluiceError, UsageError } from '../../../errors.ts'
import type { S3Options } from '../storage-s3.ts'
import type { IcebergCatalogOptions } from './catalog.ts'
import { type ExpiryPlan, planExpiry } from './expiry-plan.ts'
import { unreferencedFiles } from './expiry-reach.ts'
import { metadataVersion, type TableMetadata } from './metadata.ts'
import { type OpenTable, openTable } from './open-table.ts'

export interface ExpireOptions {
  /** The table, as lake({ format: 'iceberg', catalog }) names it. */
  readonly catalog: IcebergCatalogOptions
  /** S3 client options, for a table in S3. */
  readonly s3?: S3Options
  /** Snapshots committed longer ago than this (ms) expire, unless kept by retainLast. */
  readonly olderThanMs: number
  /** The current snapshot and its latest ancestors kept whatever their age. Default 1 (the current one). */
  readonly retainLast?: number
  /** Commit attempts when writers keep committing first. Default 20. */
  readonly maxAttempts?: number
  /** The clock, for tests. */
  readonly now?: () => number
}

export interface ExpiryResult {
  readonly expiredSnapshots: number
  readonly keptSnapshots: number
  /** Files deleted because no remaining snapshot references them. */
  readonly deleted: {
    readonly dataFiles: number
    readonly manifests: number
    readonly manifestLists: number
    readonly metadataFiles: number
  }
  /** Commit attempts: more than 1 when a writer or compaction committed meanwhile. 0: nothing to expire. */
  readonly attempts: number
}

/**
 * Expires old snapshots of an Iceberg table, as Iceberg's ExpireSnapshots does:
 * 1. plan on the current metadata: snapshots older than `olderThanMs` expire, except the current one, the
 *    `retainLast` latest of its ancestry and any a branch or tag names; metadata-log entries older than that
 *    go too (the previous metadata file, which the catalog names, always stays);
 * 2. commit a metadata file without them by the catalog's compare-and-swap. Another commit first (a writer's
 *    append, a compaction) makes the swap fail: the plan is made again on the new metadata;
 * 3. only then delete what no remaining snapshot references: the expired snapshots' manifest lists, their
 *    manifests that no kept manifest list names, and data files that no kept manifest lists as live; and
 *    the metadata files dropped from the log.
 * Writers keep their positions in a table property (positions.ts), so expiring the snapshots that carry them
 * in their summary loses nothing. A crash between 2 and 3 leaves files that nothing references (not read by
 * anyone; a later orphan sweep is not built).
 */
export async function expireIcebergSnapshots(options: ExpireOptions): Promise<ExpiryResult> {
  if (!(options.olderThanMs >= 0)) throw new UsageError('lake expire: olderThan must be zero or more.')
  const retainLast = options.retainLast ?? 1
  if (!Number.isSafeInteger(retainLast) || retainLast < 1)
    throw new UsageError('lake expire: retainLast must be a whole number of at least 1.')
  const now = options.now ?? Date.now
  const table = await openTable(options.catalog, options.s3)
  try {
    const committed = await commitExpiry(
      table,
      options.olderThanMs,
      retainLast,
      now,
      options.maxAttempts ?? 20,
    )
    if (!committed)
      return {
        expiredSnapshots: 0,
        keptSnapshots: table.metadata.snapshots.length,
        deleted: { dataFiles: 0, manifests: 0, manifestLists: 0, metadataFiles: 0 },
        attempts: 0,
      }
    const { plan, attempts } = committed
    const unreferenced = await unreferencedFiles(table.files, plan.kept, plan.expired)
    const remove = async (uris: readonly string[]) => {
      for (const uri of uris) await table.storage.delete(table.files.key(uri))
      return uris.length
    }
    const manifestLists = await remove(unreferenced.manifestLists)
    const manifests = await remove(unreferenced.manifests)
    const dataFiles = await remove(unreferenced.dataFiles)
    const metadataFiles = await remove(plan.droppedMetadataFiles)
    return {
      expiredSnapshots: plan.expired.length,
      keptSnapshots: plan.kept.length,
      deleted: { dataFiles, manifests, manifestLists, metadataFiles },
      attempts,
    }
  } finally {
    table.catalog.close()
    table.storage.close?.()
  }
}

async function commitExpiry(
  table: OpenTable,
  olderThanMs: number,
  retainLast: number,
  now: () => number,
  maxAttempts: number,
): Promise<{ plan: ExpiryPlan; attempts: number } | undefined> {
  let base = table.metadata
  let location = table.location
  for (let attempt = 1; ; attempt++) {
    const plan = planExpiry(base, location, now() - olderThanMs, retainLast)
    if (plan.expired.length === 0 && plan.droppedMetadataFiles.length === 0) return undefined
    const time = now()
    const metadata: TableMetadata = {
      ...base,
      'last-updated-ms': time,
      snapshots: plan.kept,
      'snapshot-log': base['snapshot-log'].filter((e) =>
        plan.kept.some((s) => s['snapshot-id'] === e['snapshot-id']),
      ),
      'metadata-log': [
        ...plan.metadataLog,
        { 'metadata-file': location, 'timestamp-ms': base['last-updated-ms'] },
      ],
    }
    const key = `metadata/${String(metadataVersion(location) + 1).padStart(5, '0')}-${randomUUID()}.metadata.json`
    await table.storage.put(key, Buffer.from(JSON.stringify(metadata, null, 1)))
    const uri = table.files.uri(key)
    if (await table.catalog.swap(location, uri)) return { plan, attempts: attempt }
    // Another commit came first: this metadata file is referenced by nothing; plan again on the new one.
    await table.storage.delete(key)
    if (attempt >= maxAttempts) throw conflict(table, 'writers kept committing first')
    const next = await table.catalog.load()
    if (next === undefined) throw conflict(table, 'the table was dropped from the catalog')
    location = next
    base = await table.files.readMetadata(location)
  }
}

function conflict(table: OpenTable, why: string): SluiceError {
  return new SluiceError(
    'SLUICE_LAKE_CONFLICT',
    `lake expire: ${table.catalog.description}: nothing was expired: ${why}. Run it again.`,
    { domain: 'external', retryable: true },
  )
}
