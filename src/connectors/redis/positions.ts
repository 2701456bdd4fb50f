import type { Positions } from '../../runtime/source.ts'
import { NOTHING_STORED, type StoredPosition } from '../sql/index.ts'
import type { Args } from './commands.ts'

/**
 * The pipeline's positions in Redis: a hash with one field per source partition ("events:3" → the next
 * offset to read) and "@batch" → the last batch committed, written by HSET in each batch's MULTI/EXEC.
 * A partition's field is written only by batches that read it, so instances that each own some partitions
 * can share the hash field by field.
 */
export const BATCH_FIELD = '@batch'

/** The hash as HGETALL returns it, as the position the SQL sinks' replay rules take. */
export function parseStored(hash: Readonly<Record<string, string>>): StoredPosition {
  const positions: Record<string, number> = {}
  let batchId = NOTHING_STORED.batchId
  for (const [field, text] of Object.entries(hash)) {
    const value = Number(text)
    if (!Number.isSafeInteger(value)) continue
    if (field === BATCH_FIELD) batchId = value
    else positions[field] = value
  }
  return { batchId, positions }
}

/** HSET of the batch id and the next position of each partition the batch read. */
export function storeCommand(key: string, batchId: number, next: Positions): Args {
  const fields: string[] = [BATCH_FIELD, String(batchId)]
  for (const [partition, offset] of Object.entries(next)) fields.push(partition, String(offset))
  return ['HSET', key, ...fields]
}

/**
 * The commands that put the hash back as it was before a batch whose transaction failed part-way: the
 * fields it had get their values again, the fields it did not have are removed.
 */
export function restoreCommands(
  key: string,
  before: Readonly<Record<string, string>>,
  written: Args,
): Args[] {
  const fields = written
    .slice(2)
    .filter((_, i) => i % 2 === 0)
    .map(String)
  const restore: string[] = []
  const remove: string[] = []
  for (const field of fields) {
    const old = before[field]
    if (old === undefined) remove.push(field)
    else restore.push(field, old)
  }
  const commands: Args[] = []
  if (restore.length > 0) commands.push(['HSET', key, ...restore])
  if (remove.length > 0) commands.push(['HDEL', key, ...remove])
  return commands
}
