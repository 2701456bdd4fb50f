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

/**
 * `records` without those below `position` (already processed and committed by this run): a Kafka consumer
 * hands them out again after its group rebalanced, from the group's committed offset, which may lag behind.
 */
export function unprocessed(position: Positions, records: SourceRecord[]): SourceRecord[] {
  const processed = (r: SourceRecord) => r.offset < (position[r.partition] ?? Number.NEGATIVE_INFINITY)
  return records.some(processed) ? records.filter((r) => !processed(r)) : records
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

/**
 * True when a sink's committed positions are exactly `target`: equal on every partition of `target` and on no
 * other partition. For a batch's start, a partition the sink never committed counts as equal (nothing of it
 * was written yet).
 */
export function sinkAt(sink: Positions, target: Positions, isStart: boolean): boolean {
  for (const [partition, offset] of Object.entries(target)) {
    const committed = sink[partition]
    if (committed !== offset && !(isStart && committed === undefined)) return false
  }
  return Object.keys(sink).every((partition) => partition in target)
}
