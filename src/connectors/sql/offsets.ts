import type { CommittedPosition } from '../../runtime/sink.ts'
import type { Positions } from '../../runtime/source.ts'

/**
 * The offsets table every SQL sink keeps next to its data: one row per pipeline,
 *
 *   pipeline_id  text, primary key
 *   batch_id     the last batch committed (-1: the row exists, nothing committed yet)
 *   positions    JSON object, partition → next position to read, merged over all batches
 *   updated_at   when
 *
 * written in the batch's own transaction, so the database itself says after a crash whether a batch
 * landed. Each transaction reads the row with a lock first: a second instance of the same pipeline waits,
 * then sees the batch as done instead of writing it twice.
 */
export interface StoredPosition {
  readonly batchId: number
  readonly positions: Positions
}

/** What a pipeline has before its first commit (the row's initial value). */
export const NOTHING_STORED: StoredPosition = { batchId: -1, positions: {} }

/** The positions column as the driver returns it (an object, or JSON text): never throws on odd values. */
export function parsePositions(value: unknown): Positions {
  const parsed = typeof value === 'string' ? (JSON.parse(value) as unknown) : value
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return {}
  return parsed as Positions
}

/** The positions to store after a batch: partitions the batch did not read keep what they had. */
export function mergePositions(stored: Positions, next: Positions): Positions {
  return { ...stored, ...next }
}

/** For SinkWriter.committedPosition(): nothing before the first commit. */
export function committedPosition(stored: StoredPosition | undefined): CommittedPosition | undefined {
  return stored && stored.batchId >= 0 ? { batchId: stored.batchId, positions: stored.positions } : undefined
}
