import { jsonProblem, notARow } from '../sql/index.ts'
import type { RedisSettings } from './options.ts'

/** A Redis command's arguments: text, or bytes as they are. */
export type Args = readonly (string | Buffer)[]

/** What one row becomes: the key it writes and its commands (a hash with a TTL: HSET then PEXPIRE). */
export interface RowWrite {
  /** The row's index in its batch, for its dead letter. */
  readonly index: number
  readonly key: string
  readonly commands: readonly Args[]
}

/** A row the sink cannot write, with the reason (the sink's own or the server's message). */
export interface BadRow {
  readonly index: number
  readonly row: unknown
  readonly reason: string
  readonly key: string | null
}

/**
 * The commands of one row, or why it has none: not an object, no key, a value JSON cannot hold, no field
 * for a stream entry.
 */
export function rowWrite(settings: RedisSettings, row: unknown, index: number): RowWrite | BadRow {
  const notRow = notARow(row)
  if (notRow !== undefined) return { index, row, reason: notRow, key: null }
  const fields = row as Readonly<Record<string, unknown>>
  const keyed = settings.key.keyOf(fields)
  if ('problem' in keyed) return { index, row, reason: keyed.problem, key: null }
  const { key } = keyed
  const bad = (reason: string): BadRow => ({ index, row, reason, key })
  try {
    switch (settings.mode) {
      case 'set': {
        const value = settings.value === undefined ? json(fields) : fieldText(fields[settings.value])
        if (value === undefined) return bad(`the value field "${settings.value}" is missing or null`)
        const ttl = settings.ttlMs === undefined ? [] : ['PX', String(settings.ttlMs)]
        return { index, key, commands: [['SET', key, value, ...ttl]] }
      }
      case 'hash': {
        const set: (string | Buffer)[] = []
        const removed: string[] = []
        for (const [name, value] of Object.entries(fields)) {
          const text = fieldText(value)
          if (text === undefined) removed.push(name)
          else set.push(name, text)
        }
        if (set.length === 0) return bad('the row has no field with a value: a hash needs one')
        const commands: Args[] = [['HSET', key, ...set]]
        // A field that became null is taken out, so the hash is the row as it is now, not a merge with before.
        if (removed.length > 0) commands.push(['HDEL', key, ...removed])
        if (settings.ttlMs !== undefined) commands.push(['PEXPIRE', key, String(settings.ttlMs)])
        return { index, key, commands }
      }
      case 'stream': {
        const entry: (string | Buffer)[] = []
        for (const [name, value] of Object.entries(fields)) {
          const text = fieldText(value)
          if (text !== undefined) entry.push(name, text)
        }
        if (entry.length === 0) return bad('the row has no field with a value: a stream entry needs one')
        return { index, key, commands: [['XADD', key, '*', ...entry]] }
      }
    }
  } catch (error) {
    return bad(jsonProblem(error))
  }
}

/**
 * The command that reads `key` as the mode's type, for the check before a batch's transaction: it fails
 * with the server's WRONGTYPE message exactly when the row's write would, and changes nothing.
 */
export function probeOf(settings: RedisSettings, key: string): Args {
  switch (settings.mode) {
    case 'set':
      return ['STRLEN', key]
    case 'hash':
      return ['HLEN', key]
    case 'stream':
      return ['XLEN', key]
  }
}

/** A field's value as Redis holds it: text (bytes as they are); undefined for null and missing. */
function fieldText(value: unknown): string | Buffer | undefined {
  if (value === null || value === undefined) return undefined
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return String(value)
  if (value instanceof Date) return value.toISOString()
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength)
  return json(value)
}

/** JSON with bigints as digits (throws on circular or too deep values: the caller makes it a dead letter). */
function json(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))
}
