import type { DeadLetter } from '../sink.ts'
import type { SourceRecord } from '../source.ts'

/** Travels with one value through the operator chain; one object per input record, reused by every step. */
export interface RecordContext {
  readonly record: SourceRecord
  /** Epoch ms once a watermark step has read it; NaN before. */
  eventTime: number
  /** Set by keyBy. */
  key: unknown
  keyString: string
}

export type Emit = (value: unknown, context: RecordContext) => void

/** What a batch's operators report back to the runtime. */
export interface BatchCounters {
  inputRows: number
  outputRows: number
  deadLettered: number
  lateRows: number
  duplicateRows: number
}

/** Shared by the operators of one batch: where rejected records and counts go. */
export interface BatchScope {
  readonly batchId: number
  /** Watermark in force for this batch (from the offsets log). */
  readonly watermark: number
  /** The batch's planned time (from the offsets log), so replays judge "far future" identically. */
  readonly batchTime: number
  readonly counters: BatchCounters
  deadLetter(context: RecordContext, operator: string, reason: string): void
  /** Event time seen per partition this batch, for the next watermark. */
  observeEventTime(partition: string, eventTime: number): void
}

export function newCounters(): BatchCounters {
  return { inputRows: 0, outputRows: 0, deadLettered: 0, lateRows: 0, duplicateRows: 0 }
}

/** Adds `from` into `into` (the counters of several tasks or batches as one). */
export function addCounters(into: BatchCounters, from: BatchCounters): void {
  for (const name of Object.keys(into) as (keyof BatchCounters)[]) into[name] += from[name]
}

export function toDeadLetter(context: RecordContext, operator: string, reason: string): DeadLetter {
  const { record } = context
  const value = record.value
  let raw: Buffer | string | null
  if (value === null || value === undefined) raw = null
  else if (Buffer.isBuffer(value) || typeof value === 'string') raw = value
  else raw = safeJson(value)
  return {
    reason,
    operator,
    partition: record.partition,
    offset: record.offset,
    key: record.key === null || record.key === undefined ? null : record.key.toString(),
    raw,
    timestamp: record.timestamp,
  }
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value)
  } catch {
    return String(value)
  }
}

/** A context for rows that stateful operators emit (they stem from many records, not one). */
export function derivedContext(
  eventTime: number,
  key: unknown,
  keyString: string,
  batchId: number,
): RecordContext {
  return {
    record: { partition: 'derived', offset: batchId, key: keyString, value: null, timestamp: eventTime },
    eventTime,
    key,
    keyString,
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
