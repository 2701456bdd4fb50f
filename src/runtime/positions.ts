import type { Positions, SourceRecord } from './source.ts'

/**
 * Where a batch starts: `position`, plus, for partitions it has none for (a first batch, a new partition), the
 * first offset the batch read there, so a replay can seek to it whatever the consumer group has committed.
 */
export function startOf(position: Positions, records: readonly SourceRecord[]): Positions {
  let start: Record<string, number> | undefined
  for (const r of records) {
    if (position[r.partition] !== undefined) continue
    start ??= { ...position }
    const seen = start[r.partition]
    if (seen === undefined || r.offset < seen) start[r.partition] = r.offset
  }
  return start ?? position
}

/** Positions after `records`: each partition's last offset + 1. */
export function advance(position: Positions, records: readonly SourceRecord[]): Positions {
  if (records.length === 0) return position
  const next: Record<string, number> = { ...position }
  for (const r of records) {
    const after = r.offset + 1
    if ((next[r.partition] ?? Number.NEGATIVE_INFINITY) < after) next[r.partition] = after
  }
  return next
}

/** True when every partition of `end` has been read up to its end position. */
export function reached(position: Positions, end: Positions): boolean {
  for (const [partition, target] of Object.entries(end)) {
    if (target > 0 && (position[partition] ?? 0) < target) return false
  }
  return true
}
