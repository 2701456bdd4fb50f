import type { Positions, SourceRecord } from '../../runtime/source.ts'
import type { StoredPosition } from './offsets.ts'

export type ReplayDecision =
  | { readonly kind: 'write' }
  | { readonly kind: 'skip' }
  | { readonly kind: 'conflict'; readonly record: SourceRecord }

/**
 * What to do with a batch given the position the database holds: write it; skip it (every record is
 * before the stored position and the database holds this batch id or a later one: a replay of input it
 * already has); or refuse it (some records are old, some new: a batch straddling the stored position cannot
 * be de-duplicated row by row, e.g. a checkpoint from another run replayed with other batch sizes).
 */
export function decideReplay(
  stored: StoredPosition,
  batchId: number,
  records: readonly SourceRecord[],
): ReplayDecision {
  let old = 0
  let first: SourceRecord | undefined
  for (const r of records) {
    const next = stored.positions[r.partition]
    if (next !== undefined && r.offset < next) {
      old++
      first ??= r
    }
  }
  if (old === 0)
    return stored.batchId >= batchId && records.length === 0 ? { kind: 'skip' } : { kind: 'write' }
  if (old === records.length && stored.batchId >= batchId) return { kind: 'skip' }
  return { kind: 'conflict', record: first! }
}

/** True when the stored positions are at or past `end` in every partition (for hasCommitted). */
export function covers(stored: Positions, end: Positions): boolean {
  return Object.entries(end).every(([partition, offset]) => (stored[partition] ?? 0) >= offset)
}

/** The same position in every partition (a partition missing on one side counts as 0). */
export function samePositions(a: Positions, b: Positions): boolean {
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)]))
    if ((a[k] ?? 0) !== (b[k] ?? 0)) return false
  return true
}
