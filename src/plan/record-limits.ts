import { UsageError } from '../errors.ts'

/**
 * What one input record may be before any step or sink sees it. A record over a limit is a dead letter with
 * the reason, so one hostile record costs bounded time and memory and the pipeline goes on.
 */
export interface RecordLimits {
  /** Bytes of the raw value (Kafka value, file line). Default 1 MiB, Kafka's own default record limit. */
  readonly maxBytes: number
  /** Nesting of objects and arrays in a decoded value. Default 128; at most 1,000. */
  readonly maxDepth: number
  /** Fields of any one object in a decoded value (every level). Default 1,000. */
  readonly maxFields: number
}

/**
 * Defaults no sane event reaches, chosen for what they bound:
 * - maxBytes 1 MiB: Kafka's default (message.max.bytes), so no record a default broker accepts is refused; it
 *   bounds everything linear in the record (decoding, the total number of values, a dead letter's size).
 * - maxDepth 128 (serde_json's recursion limit): recursive code downstream (JSON.stringify in the sinks and
 *   dead letters, CEL, the sinks' value conversions) overflows the stack somewhere between 2,000 and 5,000
 *   levels; 128 is far from that and far beyond any event (the clickstream's is 3).
 * - maxFields 1,000 per object: top-level fields become columns in the SQL sinks and the lake, and their cost
 *   grows faster than linearly with the count (a 100,000-field object took 38 s into DuckDB and minutes and
 *   gigabytes into Parquet); PostgreSQL allows 1,600 columns a table. Fields in the whole record need no limit
 *   of their own: maxBytes bounds them (a field is at least 4 bytes, `"":0`).
 */
export const DEFAULT_RECORD_LIMITS: RecordLimits = Object.freeze({
  maxBytes: 1024 * 1024,
  maxDepth: 128,
  maxFields: 1000,
})

/** Deeper than this, JSON.stringify and other recursive walks downstream may overflow the stack. */
export const MAX_DEPTH_CEILING = 1000

/** The limits a pipeline runs with: the defaults, overridden by what the user gave, checked. */
export function resolveRecordLimits(given: Partial<RecordLimits> | undefined): RecordLimits {
  if (given === undefined) return DEFAULT_RECORD_LIMITS
  const limits = { ...DEFAULT_RECORD_LIMITS, ...withoutUndefined(given) }
  for (const name of ['maxBytes', 'maxDepth', 'maxFields'] as const) {
    const value = limits[name]
    if (!Number.isSafeInteger(value) || value < 1)
      throw new UsageError(`recordLimits.${name} must be a positive whole number, not ${String(value)}.`)
  }
  if (limits.maxDepth > MAX_DEPTH_CEILING)
    throw new UsageError(
      `recordLimits.maxDepth is at most ${MAX_DEPTH_CEILING}: deeper values can overflow the stack of the code that serialises them (${limits.maxDepth} given).`,
    )
  return Object.freeze(limits)
}

function withoutUndefined(given: Partial<RecordLimits>): Partial<RecordLimits> {
  return Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined))
}

/**
 * The size in bytes of a raw value (bytes or text) when it is over `max`; undefined when it is not, and for
 * in-process objects, which have no size before they are serialised.
 */
export function bytesOver(value: unknown, max: number): number | undefined {
  let bytes: number
  if (value instanceof Uint8Array) bytes = value.length
  else if (typeof value === 'string') {
    // UTF-8 takes 1 to 3 bytes per UTF-16 unit: count them only when the length cannot tell.
    if (value.length * 3 <= max) return undefined
    bytes = Buffer.byteLength(value)
  } else return undefined
  return bytes > max ? bytes : undefined
}
