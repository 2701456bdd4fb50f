import { createHash } from 'node:crypto'

/** The folder name Hive, Spark and DuckDB use for a null partition value. */
export const DEFAULT_PARTITION = '__HIVE_DEFAULT_PARTITION__'

/** A partition value before it is turned into a folder name. */
export type PartitionValue = string | number | boolean | bigint | Date | null | undefined

/** A row's partition: ordered key → value (null: the default partition). */
export type PartitionValues = Readonly<Record<string, string | null>>

/** Longest folder name written; longer `key=value` names are cut and end with a hash of the whole name. */
const MAX_SEGMENT = 200

const SAFE = /^[A-Za-z0-9_.-]$/
const encoder = new TextEncoder()

/**
 * Hive-style percent-encoding: every character outside [A-Za-z0-9_.-] becomes %XX per UTF-8 byte, so a
 * value can hold no "/" or "\" (or "=" or "%") of its own: `../../x` becomes `..%2F..%2Fx`. "." and ".."
 * are encoded whole (%2E, %2E%2E) so that no escaped text is ever a path step on its own.
 */
export function escapePathPart(value: string): string {
  let out = ''
  for (const char of value) {
    if (SAFE.test(char)) {
      out += char
      continue
    }
    for (const byte of encoder.encode(char)) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  if (out === '.') return '%2E'
  if (out === '..') return '%2E%2E'
  return out
}

/**
 * A name that starts a folder or file name (a partition key, a writer id): escaped like a value, and a
 * leading "." too, which files() and most lake readers would take for a hidden file.
 */
export function escapeName(name: string): string {
  const out = escapePathPart(name)
  return out.startsWith('.') ? `%2E${out.slice(1)}` : out
}

/** The inverse of escapePathPart. */
export function unescapePathPart(value: string): string {
  return decodeURIComponent(value)
}

/** A partition value as the string that names its folder (before escaping); null for the default partition. */
export function partitionString(value: PartitionValue | unknown): string | null {
  if (value === null || value === undefined) return null
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value)
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString()
  return JSON.stringify(value) ?? null
}

/** One folder name `key=value`, escaped; cut (with a hash of the whole) when it would be too long for a file system. */
function segment(key: string, value: string | null): string {
  const name = `${escapeName(key)}=${value === null ? DEFAULT_PARTITION : escapePathPart(value)}`
  if (name.length <= MAX_SEGMENT) return name
  let cut = MAX_SEGMENT - 18
  // Never cut inside a %XX escape.
  const percent = name.lastIndexOf('%', cut)
  if (percent > cut - 3) cut = percent
  return `${name.slice(0, cut)}~${shortHash(name)}`
}

/** The relative folder of a partition, e.g. "event_date=2026-11-25/event_type=purchase" ("" when unpartitioned). */
export function partitionPath(values: PartitionValues): string {
  return Object.entries(values)
    .map(([key, value]) => segment(key, value))
    .join('/')
}

/** A short, stable hex hash (the first 12 hex digits of SHA-256). */
export function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12)
}
