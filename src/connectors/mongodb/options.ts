import { UsageError } from '../../errors.ts'

/** How rows are written: see README.md in this folder. */
export type MongoWriteMode = 'insert' | 'upsert'

export interface MongoSinkOptions<T> {
  /** Connection string (mongodb://[user:password@]host:27017/, mongodb+srv://…). Default: $MONGODB_URL. */
  readonly url?: string
  readonly database: string
  readonly collection: string
  /**
   * 'insert': each row a new document, its `_id` made from the pipeline, the batch and the row's place in it,
   * so that a batch written again rewrites the same documents; 'upsert': the document whose `_id` is the
   * row's `key` is replaced by the row (inserted when there is none). Default: 'upsert' with a key, else
   * 'insert'.
   */
  readonly mode?: MongoWriteMode
  /**
   * The field(s) identifying a row, for 'upsert': one field's value is the document's `_id`; several make
   * it an object of them in this order ({ key, window_start }).
   */
  readonly key?: (keyof T & string) | readonly (keyof T & string)[]
  /**
   * A row the server refuses (a field name it does not take, a key too large) or that cannot be written (not
   * an object, no key): 'dead-letter' (default) stores it in the dead-letter collection with the reason and
   * writes the rest; 'fail' stops the pipeline with the message before the positions move.
   */
  readonly onError?: 'dead-letter' | 'fail'
  /** Default "sluice_dead_letters", in the same database. */
  readonly deadLetterCollection?: string
  /** The pipeline's positions, one document per source partition. Default "sluice_positions". */
  readonly positionsCollection?: string
}

export const DEFAULT_DEAD_LETTER_COLLECTION = 'sluice_dead_letters'
export const DEFAULT_POSITIONS_COLLECTION = 'sluice_positions'

/** The options checked, with their defaults. */
export interface MongoSettings {
  readonly url: string | undefined
  readonly database: string
  readonly collection: string
  readonly mode: MongoWriteMode
  /** 'upsert': the key fields, in order. */
  readonly key: readonly string[]
  readonly onError: 'dead-letter' | 'fail'
  readonly deadLetterCollection: string
  readonly positionsCollection: string
}

const NUL = String.fromCharCode(0)

/** MongoDB's own rules for names (a database name also may not hold these characters). */
function nameProblem(what: string, name: unknown, forbidden: string): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return `${what} is required (a non-empty name)`
  if ([...name].some((c) => c === NUL || forbidden.includes(c)))
    return `${what} ${JSON.stringify(name)} holds a character MongoDB does not allow there`
  if (name.startsWith('system.'))
    return `${what} ${JSON.stringify(name)} is in MongoDB's reserved "system." namespace`
  return undefined
}

/** Checks the options once, when the sink is declared, so a mistake shows before anything runs. */
export function resolveMongoOptions<T>(options: MongoSinkOptions<T> | undefined): MongoSettings {
  if (!options)
    throw new UsageError(
      'mongodb(): options are required, e.g. mongodb({ database: "shop", collection: "orders" }).',
    )
  const problem =
    nameProblem('database', options.database, '/\\. "$*<>:|?') ??
    nameProblem('collection', options.collection, '$') ??
    (options.deadLetterCollection === undefined
      ? undefined
      : nameProblem('deadLetterCollection', options.deadLetterCollection, '$')) ??
    (options.positionsCollection === undefined
      ? undefined
      : nameProblem('positionsCollection', options.positionsCollection, '$'))
  if (problem) throw new UsageError(`mongodb(): ${problem}.`)
  const key =
    options.key === undefined ? [] : typeof options.key === 'string' ? [options.key] : [...options.key]
  if (key.some((k) => typeof k !== 'string' || k.length === 0))
    throw new UsageError('mongodb(): key must name fields of the row: "id", or ["key", "window_start"].')
  if (new Set(key).size !== key.length)
    throw new UsageError(`mongodb(): key names a field twice: ${JSON.stringify(key)}.`)
  const mode = options.mode ?? (key.length > 0 ? 'upsert' : 'insert')
  if (mode !== 'insert' && mode !== 'upsert')
    throw new UsageError(`mongodb(): mode must be 'insert' or 'upsert', not ${JSON.stringify(mode)}.`)
  if (mode === 'upsert' && key.length === 0)
    throw new UsageError(
      "mongodb(): mode 'upsert' needs a key: the field(s) identifying a row, e.g. key: ['key', 'window_start'].",
    )
  if (mode === 'insert' && key.length > 0)
    throw new UsageError("mongodb(): key is for mode 'upsert'; mode 'insert' makes each row's _id itself.")
  const onError = options.onError ?? 'dead-letter'
  if (onError !== 'dead-letter' && onError !== 'fail')
    throw new UsageError(
      `mongodb(): onError must be 'dead-letter' or 'fail', not ${JSON.stringify(onError)}.`,
    )
  const settings: MongoSettings = {
    url: options.url,
    database: options.database,
    collection: options.collection,
    mode,
    key,
    onError,
    deadLetterCollection: options.deadLetterCollection ?? DEFAULT_DEAD_LETTER_COLLECTION,
    positionsCollection: options.positionsCollection ?? DEFAULT_POSITIONS_COLLECTION,
  }
  const own = [settings.deadLetterCollection, settings.positionsCollection]
  if (own.includes(settings.collection) || settings.deadLetterCollection === settings.positionsCollection)
    throw new UsageError(
      `mongodb(): the collection, deadLetterCollection and positionsCollection must differ (${JSON.stringify([settings.collection, ...own])}).`,
    )
  return settings
}

/** The options as describe() shows them: no URL (it may hold a password). */
export function describeOptions(settings: MongoSettings): Record<string, unknown> {
  return {
    database: settings.database,
    collection: settings.collection,
    mode: settings.mode,
    ...(settings.key.length === 0 ? {} : { key: settings.key }),
    onError: settings.onError,
    deadLetterCollection: settings.deadLetterCollection,
    positionsCollection: settings.positionsCollection,
  }
}
