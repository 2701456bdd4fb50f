import type { RedisClientType } from 'redis'
import { UsageError } from '../../errors.ts'
import type {
  CommittedPosition,
  DeadLetter,
  OutputBatch,
  SinkCommitContext,
  SinkContract,
  SinkOpenContext,
  SinkWriter,
} from '../../runtime/sink.ts'
import type { Positions } from '../../runtime/source.ts'
import { committedPosition, covers, decideReplay, type StoredPosition, sinkDeadLetter } from '../sql/index.ts'
import { type Args, type BadRow, probeOf, type RowWrite, rowWrite } from './commands.ts'
import { deadLetterCommand } from './dead-letters.ts'
import { RedisError, serverMessage } from './errors.ts'
import { POSITIONS_KEY_PREFIX, type RedisSettings } from './options.ts'
import { parseStored, restoreCommands, storeCommand } from './positions.ts'

type Client = RedisClientType
type RedisLibrary = typeof import('redis')

/** What the sink declares: rows, dead letters and positions in one MULTI/EXEC. */
const REDIS_SINK_CONTRACT: SinkContract = Object.freeze({
  guarantee: 'exactly-once',
  storesPositions: true,
  commitsSourceOffsets: false,
  storesDeadLetters: true,
})

/** A batch's transaction that lost its WATCH (another client changed a key meanwhile) is tried again. */
const WATCH_TRIES = 10

/** Up to this many keys of a set or hash batch are watched with the positions (see #watchesRows). */
const WATCHED_ROW_KEYS = 100

/** The rows of a batch as commands, made once in write(). */
interface Prepared<T> {
  readonly batch: OutputBatch<T>
  readonly writes: readonly RowWrite[]
  /** Rows the sink refused itself, and after commit() also those the server refused. */
  readonly bad: BadRow[]
}

/**
 * Exactly-once into Redis. Each batch is one MULTI/EXEC holding its rows' writes, its dead letters (XADD to
 * the dead-letter stream) and the pipeline's positions (HSET of the positions hash), so after a crash the
 * positions say whether the batch landed. Redis does not undo the other commands of a transaction when one
 * fails, so nothing may fail inside it: the positions and the keys the batch writes are WATCHed, then read
 * (the positions, to skip a batch already committed) and probed with a read of the mode's type (STRLEN,
 * HLEN, XLEN), which fails with the server's WRONGTYPE message exactly where the write would; those rows
 * become dead letters. If a watched key changes before EXEC, nothing is applied and the batch is tried again.
 * A reply of EXEC that is an error all the same fails the batch, and the positions are put back first.
 */
export class RedisSinkWriter<T> implements SinkWriter<T> {
  readonly description: string
  readonly #settings: RedisSettings
  #client: Client | undefined
  #lib: RedisLibrary | undefined
  #pipelineId = ''
  #positionsKey = ''
  #prepared: Prepared<T> | undefined

  constructor(settings: RedisSettings) {
    this.#settings = settings
    this.description = `redis ${settings.mode} ${settings.key.text}`
  }

  get #operator(): string {
    return `sink:redis ${this.#settings.key.text}`
  }

  async open(context: SinkOpenContext): Promise<SinkContract> {
    this.#pipelineId = context.pipelineId
    this.#positionsKey = this.#settings.positionsKey ?? `${POSITIONS_KEY_PREFIX}${context.pipelineId}`
    const url = this.#settings.url ?? process.env.REDIS_URL
    if (!url)
      throw new UsageError(
        'redis sink: no server given; pass url or set REDIS_URL (redis://[user:password@]host:6379[/db]).',
      )
    const lib = await import('redis')
    this.#lib = lib
    // No reconnecting and no offline queue: a lost connection fails the batch at once, and the runtime
    // restarts from the positions stored here (with its backoff) instead of a command waiting unseen.
    const client = lib.createClient({
      url,
      disableOfflineQueue: true,
      socket: { reconnectStrategy: false, connectTimeout: 10_000 },
    })
    client.on('error', () => {}) // reported by the command that meets it
    this.#client = client
    try {
      await client.connect()
      const problems = await this.#probe([
        ['HLEN', this.#positionsKey],
        ['XLEN', this.#settings.deadLetterStream],
      ])
      const problem = problems.find((p) => p !== undefined)
      if (problem !== undefined)
        throw new RedisError(
          `redis sink: the positions hash "${this.#positionsKey}" or the dead-letter stream "${this.#settings.deadLetterStream}" holds another type (${problem}); choose other names with positionsKey and deadLetterStream.`,
          { domain: 'user', retryable: false },
        )
    } catch (error) {
      throw wrap(error, `opening ${url.replace(/\/\/[^@/]*@/, '//…@')}`)
    }
    return REDIS_SINK_CONTRACT
  }

  /** Turns the rows into commands; nothing is sent before commit(), which knows the batch's positions. */
  async write(batch: OutputBatch<T>): Promise<void> {
    const writes: RowWrite[] = []
    const bad: BadRow[] = []
    const reserved = new Set([this.#positionsKey, this.#settings.deadLetterStream])
    batch.rows.forEach((row, index) => {
      const write = rowWrite(this.#settings, row, index)
      if ('reason' in write) bad.push(write)
      else if (reserved.has(write.key))
        bad.push({
          index,
          row,
          reason: `the key "${write.key}" is the sink's own (positions or dead letters)`,
          key: write.key,
        })
      else writes.push(write)
    })
    this.#prepared = { batch, writes, bad }
    if (bad.length > 0 && this.#settings.onError === 'fail') throw this.#refusedError(bad[0]!, batch.batchId)
  }

  async commit(batch: OutputBatch<T>, context: SinkCommitContext): Promise<void> {
    if (this.#prepared?.batch !== batch) await this.write(batch)
    const prepared = this.#prepared!
    const client = this.#client!
    try {
      for (let attempt = 1; ; attempt++) {
        const done = await this.#tryCommit(client, prepared, context)
        if (done) return
        if (attempt >= WATCH_TRIES)
          throw new RedisError(
            `redis sink: batch ${batch.batchId} was not committed: its keys changed under it ${WATCH_TRIES} times (another writer on the same keys?)`,
          )
      }
    } catch (error) {
      await client.unwatch().catch(() => {})
      throw wrap(error, `committing batch ${batch.batchId}`)
    }
  }

  /** One try: false when a watched key changed and nothing was applied. */
  async #tryCommit(client: Client, prepared: Prepared<T>, context: SinkCommitContext): Promise<boolean> {
    const { batch, writes } = prepared
    const keys = [...new Set(writes.map((w) => w.key))]
    await client.watch([this.#positionsKey, ...(this.#watchesRows(keys.length) ? keys : [])])
    const before = await client.hGetAll(this.#positionsKey)
    const stored = parseStored(before)
    const decision = decideReplay(stored, batch.batchId, context.records)
    if (decision.kind === 'conflict') throw this.#conflict(stored, batch.batchId, decision.record)
    if (decision.kind === 'skip') {
      await client.unwatch()
      return true
    }
    const refusedKeys = new Map<string, string>()
    const problems = await this.#probe(keys.map((key) => probeOf(this.#settings, key)))
    problems.forEach((problem, i) => {
      if (problem !== undefined) refusedKeys.set(keys[i]!, problem)
    })
    const bad = [...prepared.bad]
    const good: RowWrite[] = []
    for (const w of writes) {
      const problem = refusedKeys.get(w.key)
      if (problem === undefined) good.push(w)
      else bad.push({ index: w.index, row: batch.rows[w.index], reason: problem, key: w.key })
    }
    bad.sort((a, b) => a.index - b.index)
    if (bad.length > 0 && this.#settings.onError === 'fail') throw this.#refusedError(bad[0]!, batch.batchId)

    const multi = client.multi()
    for (const w of good) for (const command of w.commands) multi.addCommand([...command])
    const stream = this.#settings.deadLetterStream
    for (const letter of batch.deadLetters)
      multi.addCommand([...deadLetterCommand(stream, this.#pipelineId, batch.batchId, letter)])
    for (const letter of this.#letters(bad))
      multi.addCommand([...deadLetterCommand(stream, this.#pipelineId, batch.batchId, letter)])
    const store = storeCommand(this.#positionsKey, batch.batchId, context.next)
    multi.addCommand([...store])
    try {
      await multi.exec()
    } catch (error) {
      if (error instanceof this.#lib!.WatchError) return false
      if (error instanceof this.#lib!.MultiErrorReply) {
        // Applied, all but the failed commands: the positions must not claim the rows that failed.
        await this.#restorePositions(client, before, store)
        const first = error.replies[error.errorIndexes[0]!]
        throw new RedisError(
          `redis sink: ${error.errorIndexes.length} command(s) of batch ${batch.batchId}'s transaction failed, the first with "${serverMessage(first)}"; the positions were put back, the rest of the batch stays written (Redis does not undo a transaction) and the batch is written again`,
          { cause: error },
        )
      }
      throw error
    }
    prepared.bad.splice(0, prepared.bad.length, ...bad)
    return true
  }

  /**
   * Whether the batch's own keys are watched too. Redis 7.0's WATCH costs O(n²) in the keys of one call (2,000
   * keys: 180 ms), so a batch of many keys of a set or hash sink watches only the positions: a key that
   * changes type between the probe and EXEC then fails inside EXEC, and the batch is retried with the
   * positions put back, which for SET and HSET writes the same values again. A stream's entries would be
   * added twice that way, so a stream sink always watches its keys (usually one).
   */
  #watchesRows(keys: number): boolean {
    return this.#settings.mode === 'stream' || keys <= WATCHED_ROW_KEYS
  }

  /** Read commands, sent together (the client pipelines them): per command, undefined or the server's error. */
  async #probe(commands: readonly Args[]): Promise<(string | undefined)[]> {
    const client = this.#client!
    const replies = await Promise.allSettled(commands.map((command) => client.sendCommand([...command])))
    return replies.map((reply) => {
      if (reply.status === 'fulfilled') return undefined
      // A refusal of the command is the server's answer; a lost connection fails the batch.
      if (reply.reason instanceof this.#lib!.ErrorReply) return serverMessage(reply.reason)
      throw reply.reason
    })
  }

  async #restorePositions(
    client: Client,
    before: Readonly<Record<string, string>>,
    store: Args,
  ): Promise<void> {
    const multi = client.multi()
    for (const command of restoreCommands(this.#positionsKey, before, store)) multi.addCommand([...command])
    await multi.exec()
  }

  async abort(): Promise<void> {
    this.#prepared = undefined
    await this.#client?.unwatch().catch(() => {})
  }

  async hasCommitted(batch: { readonly batchId: number; readonly end: Positions }): Promise<boolean> {
    const stored = await this.#readStored()
    return stored.batchId >= batch.batchId && covers(stored.positions, batch.end)
  }

  async committedPosition(): Promise<CommittedPosition | undefined> {
    return committedPosition(await this.#readStored())
  }

  rejected(batch: OutputBatch<T>): readonly DeadLetter[] {
    const prepared = this.#prepared
    if (prepared?.batch !== batch) return []
    return this.#letters(prepared.bad)
  }

  async close(): Promise<void> {
    const client = this.#client
    this.#client = undefined
    if (client?.isOpen) await client.close().catch(() => client.destroy())
  }

  #letters(bad: readonly BadRow[]): DeadLetter[] {
    return bad.map((b) => sinkDeadLetter(this.#operator, b.reason, b.row, b.key))
  }

  async #readStored(): Promise<StoredPosition> {
    try {
      return parseStored(await this.#client!.hGetAll(this.#positionsKey))
    } catch (error) {
      throw wrap(error, `reading the positions of ${this.#pipelineId}`)
    }
  }

  #refusedError(bad: BadRow, batchId: number): RedisError {
    return new RedisError(
      `redis sink: row ${bad.index} of batch ${batchId}${bad.key === null ? '' : ` (key "${bad.key}")`} cannot be written: ${bad.reason}. onError is 'fail': nothing of the batch was written.`,
      { domain: 'user', retryable: false },
    )
  }

  #conflict(
    stored: StoredPosition,
    batchId: number,
    record: { partition: string; offset: number },
  ): RedisError {
    return new RedisError(
      `redis sink: "${this.#positionsKey}" says pipeline "${this.#pipelineId}" committed batch ${stored.batchId} up to ` +
        `${JSON.stringify(stored.positions)}, but batch ${batchId} holds input before that (${record.partition}@${record.offset}): ` +
        `the checkpoint does not belong with this server. Run with the checkpoint that wrote it, or delete "${this.#positionsKey}" (and the rows) to write everything again.`,
      { domain: 'user', retryable: false },
    )
  }
}

/** Errors of our own pass as they are; the client's (connection lost, refused) are retryable RedisErrors. */
function wrap(error: unknown, doing: string): Error {
  if (error instanceof RedisError || error instanceof UsageError) return error
  return new RedisError(`redis sink: ${doing}: ${serverMessage(error)}`, { cause: error, retryable: true })
}
