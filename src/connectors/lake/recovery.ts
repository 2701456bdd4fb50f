import { LOG_DIR, type LogEntry, STAGING_DIR, stagingPrefix } from './log.ts'
import { shortHash } from './partition.ts'
import type { LakeStorage } from './storage.ts'

/**
 * After a crash, the writer's staging folder `.sluice-staging/<writer>/<id>/` (a batch's data files, or a
 * roll's, named after its first batch): files of an entry in the log (a crash between the commit point and
 * the renames) are renamed into place, all others (a crash before the commit point: orphans) deleted, as are
 * temporary log files. The roll spool (`pending/`, `spool/`) is left to the Spool.
 */
export async function recoverStaging(
  storage: LakeStorage,
  writer: string,
  find: (batchId: number) => Promise<LogEntry | undefined>,
  publish: (entry: LogEntry, keys: Set<string>) => Promise<void>,
): Promise<void> {
  const prefix = stagingPrefix(writer)
  const byBatch = new Map<number, Set<string>>()
  for (const key of await storage.list(prefix)) {
    const folder = key.slice(prefix.length).split('/')[0] ?? ''
    if (folder === 'pending' || folder === 'spool') continue
    const batchId = /^\d+$/.test(folder) ? Number(folder) : Number.NaN
    if (!Number.isSafeInteger(batchId)) {
      await storage.delete(key)
      continue
    }
    const keys = byBatch.get(batchId) ?? new Set<string>()
    keys.add(key)
    byBatch.set(batchId, keys)
  }
  for (const [batchId, keys] of byBatch) {
    const entry = await find(batchId)
    if (entry && (entry.firstBatchId ?? entry.batchId) === batchId) await publish(entry, keys)
    for (const key of keys) await storage.delete(key)
  }
  // Temporary files of a log entry whose putIfAbsent was interrupted (local storage).
  for (const key of await storage.list(`${LOG_DIR}/`)) {
    if (key.slice(LOG_DIR.length + 1).startsWith('.tmp-')) await storage.delete(key)
  }
}

const DATA_FILE = /^part-(\d+)-([0-9a-f]{12})-\d+\.(?:parquet|jsonl)$/

/**
 * Stores without rename (S3) write data files under their final keys before the commit point, so a crash
 * can leave files no log entry names. Names are deterministic — `part-<batchId>-<hash of writer and
 * partition folder>-<n>` — so this writer's files are recognised by the hash, and since a writer commits
 * its batches in order, its files of a batch after its last committed one (`lastBatchId`) are orphans.
 * Other writers' files are never touched.
 */
export async function deleteOrphans(
  storage: LakeStorage,
  writer: string,
  lastBatchId: number,
): Promise<string[]> {
  const deleted: string[] = []
  for (const key of await storage.list('')) {
    if (key.startsWith(`${LOG_DIR}/`) || key.startsWith(`${STAGING_DIR}/`)) continue
    const slash = key.lastIndexOf('/')
    const match = DATA_FILE.exec(key.slice(slash + 1))
    if (!match || Number(match[1]) <= lastBatchId) continue
    const folder = slash < 0 ? '' : key.slice(0, slash)
    if (match[2] !== shortHash(`${writer}\n${folder}`)) continue
    await storage.delete(key)
    deleted.push(key)
  }
  return deleted
}
