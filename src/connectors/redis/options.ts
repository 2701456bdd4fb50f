import { UsageError } from '../../errors.ts'
import { type Duration, parseDuration } from '../../window/duration.ts'
import { type KeyTemplate, parseKeyTemplate } from './key-template.ts'

/** How rows are written: see README.md in this folder. */
export type RedisWriteMode = 'set' | 'hash' | 'stream'

export interface RedisSinkOptions<T> {
  /** Connection URL (redis://[user:password@]host:port[/db], rediss:// for TLS). Default: $REDIS_URL. */
  readonly url?: string
  /**
   * 'set': each row is a string key (SET; the row as JSON, or the field named by `value`); 'hash': each row a
   * hash (HSET of its fields; a null field is removed); 'stream': each row a stream entry (XADD of its
   * fields, ids chosen by the server).
   */
  readonly mode: RedisWriteMode
  /**
   * The key of each row (set, hash) or the stream's name (stream): text with `{field}` placeholders,
   * e.g. "page:{key}:{window_start}", or a fixed name such as "clicks".
   */
  readonly key: string
  /** Mode 'set': the field whose value is stored (as text); default the whole row as JSON. */
  readonly value?: keyof T & string
  /** Modes 'set' and 'hash': the keys expire this long after their last write ("1h", or ms). */
  readonly ttl?: Duration
  /**
   * A row Redis refuses for its key (WRONGTYPE: the key holds another type) or that cannot be written (no
   * key, no field): 'dead-letter' (default) adds it to the dead-letter stream with the reason and commits
   * the rest; 'fail' stops the pipeline with the message, nothing of the batch written.
   */
  readonly onError?: 'dead-letter' | 'fail'
  /** The stream dead letters go to. Default "sluice:dead-letters". */
  readonly deadLetterStream?: string
  /**
   * The hash holding the pipeline's positions (one field per source partition, and "@batch"). Default
   * "sluice:positions:<pipeline id>".
   */
  readonly positionsKey?: string
}

export const DEFAULT_DEAD_LETTER_STREAM = 'sluice:dead-letters'
export const POSITIONS_KEY_PREFIX = 'sluice:positions:'

/** The options checked, with their defaults. */
export interface RedisSettings {
  readonly url: string | undefined
  readonly mode: RedisWriteMode
  readonly key: KeyTemplate
  readonly value: string | undefined
  readonly ttlMs: number | undefined
  readonly onError: 'dead-letter' | 'fail'
  readonly deadLetterStream: string
  readonly positionsKey: string | undefined
}

const MODES: readonly RedisWriteMode[] = ['set', 'hash', 'stream']

/** Checks the options once, when the sink is declared, so a mistake shows before anything runs. */
export function resolveRedisOptions<T>(options: RedisSinkOptions<T> | undefined): RedisSettings {
  if (!options || !MODES.includes(options.mode))
    throw new UsageError(
      `redis(): mode must be 'set', 'hash' or 'stream', not ${JSON.stringify(options?.mode)}, e.g. redis({ mode: "hash", key: "page:{key}" }).`,
    )
  if (typeof options.key !== 'string')
    throw new UsageError(
      `redis(): key is required: the key of each row with {field} placeholders ("page:{key}:{window_start}"), or a stream's name.`,
    )
  const key = parseKeyTemplate(options.key)
  if ('problem' in key) throw new UsageError(`redis(): key: ${key.problem}.`)
  if (options.mode !== 'stream' && key.fields.length === 0)
    throw new UsageError(
      `redis(): key ${JSON.stringify(options.key)} has no {field} placeholder, so every row would overwrite one key; name the fields that identify a row, e.g. "page:{key}".`,
    )
  if (options.value !== undefined && options.mode !== 'set')
    throw new UsageError(`redis(): value is for mode 'set'; mode '${options.mode}' writes every field.`)
  if (options.ttl !== undefined && options.mode === 'stream')
    throw new UsageError(`redis(): ttl is for modes 'set' and 'hash'; a stream keeps its entries.`)
  const onError = options.onError ?? 'dead-letter'
  if (onError !== 'dead-letter' && onError !== 'fail')
    throw new UsageError(`redis(): onError must be 'dead-letter' or 'fail', not ${JSON.stringify(onError)}.`)
  const deadLetterStream = options.deadLetterStream ?? DEFAULT_DEAD_LETTER_STREAM
  if (deadLetterStream === '' || options.positionsKey === '')
    throw new UsageError('redis(): deadLetterStream and positionsKey cannot be empty.')
  return {
    url: options.url,
    mode: options.mode,
    key,
    value: options.value,
    ttlMs: options.ttl === undefined ? undefined : parseDuration(options.ttl, 'redis ttl'),
    onError,
    deadLetterStream,
    positionsKey: options.positionsKey,
  }
}

/** The options as describe() shows them: no URL (it may hold a password). */
export function describeOptions(settings: RedisSettings): Record<string, unknown> {
  return {
    mode: settings.mode,
    key: settings.key.text,
    ...(settings.value === undefined ? {} : { value: settings.value }),
    ...(settings.ttlMs === undefined ? {} : { ttlMs: settings.ttlMs }),
    onError: settings.onError,
    deadLetterStream: settings.deadLetterStream,
  }
}
