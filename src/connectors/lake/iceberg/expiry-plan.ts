import { ancestry, currentSnapshot, type Snapshot, type TableMetadata } from './metadata.ts'

export interface ExpiryPlan {
  readonly kept: readonly Snapshot[]
  readonly expired: readonly Snapshot[]
  /** The metadata-log entries kept (the base file itself is appended by the commit). */
  readonly metadataLog: TableMetadata['metadata-log']
  /** Metadata files dropped from the log, deleted once the commit succeeded. */
  readonly droppedMetadataFiles: readonly string[]
}

/**
 * Which snapshots expire: those committed before `cutoffMs`, except the current one, the `retainLast` latest
 * of its ancestry (current included) and those a branch or tag names (Iceberg's rules). Metadata-log entries
 * before the cutoff are dropped too, so that metadata files do not pile up either.
 */
export function planExpiry(
  metadata: TableMetadata,
  location: string,
  cutoffMs: number,
  retainLast: number,
): ExpiryPlan {
  const protectedIds = new Set<number>()
  const current = currentSnapshot(metadata)
  if (current) protectedIds.add(current['snapshot-id'])
  for (const ref of Object.values(metadata.refs ?? {})) protectedIds.add(ref['snapshot-id'])
  let n = 0
  for (const snapshot of ancestry(metadata)) {
    if (n++ >= retainLast) break
    protectedIds.add(snapshot['snapshot-id'])
  }
  const keep = (s: Snapshot) => protectedIds.has(s['snapshot-id']) || s['timestamp-ms'] >= cutoffMs
  const log = metadata['metadata-log']
  return {
    kept: metadata.snapshots.filter(keep),
    expired: metadata.snapshots.filter((s) => !keep(s)),
    metadataLog: log.filter((e) => e['timestamp-ms'] >= cutoffMs),
    droppedMetadataFiles: log
      .filter((e) => e['timestamp-ms'] < cutoffMs && e['metadata-file'] !== location)
      .map((e) => e['metadata-file']),
  }
}
