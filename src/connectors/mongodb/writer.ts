import type { ClientSession, Collection, Db, MongoClient } from 'mongodb'
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
import { byIds, type SinkDocument, type Write, writeInChunks, writeInTransaction } from './bulk.ts'
import { deadLetterOperations } from './dead-letters.ts'
import { type BadRow, idText, type RowDocument, rowDocument } from './documents.ts'
import { MongoSinkError, serverMessage } from './errors.ts'
import type { MongoSettings } from './options.ts'
import { MongoPositions } from './positions.ts'
import { supportsTransactions } from './transactions.ts'

/**
 * How the server got exactly once: 'transaction' (a replica set or sharded cluster: rows, dead letters and
 * positions in one multi-document transaction) or 'idempotent-writes' (no transactions, e.g. a standalone
 * server or FerretDB: deterministic `_id`s written before the positions move, so a replay rewrites the same
 * documents). See README.md in this folder.
 */
export interface MongoSinkContract extends SinkContract {
  readonly exactlyOnceBy: 'transaction' | 'idempotent-writes'
}

/**
 * Operations per bulk write. Inserts go in large chunks; updates in small ones, since FerretDB 1.24's update
 * command never returns once it matches more than about 50 existing documents.
 */
const INSERT_CHUNK = 500
const UPDATE_CHUNK = 25

/** The rows of a batch as documents, made once in write(). */
interface Prepared<T> {
  readonly batch: OutputBatch<T>
  readonly writes: readonly Write[]
  /** Rows the sink refused itself, and after commit() also those the server refused. */
  readonly bad: BadRow[]
}

/** A transaction met refused writes: it is aborted and tried again without them. */
class RefusedInTransaction extends Error {
  readonly refused: ReadonlyMap<number, string>
  constructor(refused: ReadonlyMap<number, string>) {
    super('refused writes in a transaction')
    this.refused = refused
  }
}

/**
 * Exactly-once into MongoDB. Each batch's commit reads the pipeline's positions (a batch already committed is
 * skipped), writes the rows (bounded unordered bulk writes), the dead letters and then the positions: in one
 * transaction where the server has them, otherwise in that order with `_id`s that a replay makes again, so a
 * crash anywhere between them leaves documents the replay rewrites, and the positions move last.
 */
export class MongoSinkWriter<T> implements SinkWriter<T> {
  readonly #settings: MongoSettings
  #client: MongoClient | undefined
  #db: Db | undefined
  #data: Collection<SinkDocument> | undefined
  #deadLetters: Collection<SinkDocument> | undefined
  #positions: MongoPositions | undefined
  #pipelineId = ''
  #transactions = false
  /** How the opened server gets exactly once. */
  #path: MongoSinkContract['exactlyOnceBy'] | undefined
  #maxDocumentBytes = 16 * 1024 * 1024
  #prepared: Prepared<T> | undefined

  constructor(settings: MongoSettings) {
    this.#settings = settings
  }

  get description(): string {
    const how =
      this.#path === undefined ? '' : this.#path === 'transaction' ? ', transactions' : ', idempotent writes'
    return `mongodb ${this.#settings.database}.${this.#settings.collection} (${this.#settings.mode}${how})`
  }

  get #operator(): string {
    return `sink:mongodb ${this.#settings.database}.${this.#settings.collection}`
  }

  async open(context: SinkOpenContext): Promise<MongoSinkContract> {
    this.#pipelineId = context.pipelineId
    const url = this.#settings.url ?? process.env.MONGODB_URL
    if (!url)
      throw new UsageError(
        'mongodb sink: no server given; pass url or set MONGODB_URL (mongodb://[user:password@]host:27017/).',
      )
    const { MongoClient } = await import('mongodb')
    // The runtime retries a failed batch from the stored positions (with its backoff): the driver's own
    // retries would only hide an outage for longer.
    const client = new MongoClient(url, {
      retryWrites: false,
      retryReads: false,
      serverSelectionTimeoutMS: 10_000,
      connectTimeoutMS: 10_000,
    })
    this.#client = client
    try {
      await client.connect()
      const db = client.db(this.#settings.database)
      this.#db = db
      this.#data = db.collection(this.#settings.collection)
      this.#deadLetters = db.collection(this.#settings.deadLetterCollection)
      this.#positions = new MongoPositions(
        db.collection(this.#settings.positionsCollection),
        context.pipelineId,
      )
      const hello = await db.admin().command({ hello: 1 })
      if (typeof hello.maxBsonObjectSize === 'number') this.#maxDocumentBytes = hello.maxBsonObjectSize
      this.#transactions = await supportsTransactions(
        client,
        db.collection(this.#settings.positionsCollection),
      )
    } catch (error) {
      throw wrap(error, `opening ${url.replace(/\/\/[^@/]*@/, '//…@')}`)
    }
    this.#path = this.#transactions ? 'transaction' : 'idempotent-writes'
    return Object.freeze({
      guarantee: 'exactly-once',
      storesPositions: true,
      commitsSourceOffsets: false,
      storesDeadLetters: true,
      exactlyOnceBy: this.#path,
    })
  }

  /** Turns the rows into documents; nothing is sent before commit(), which knows the batch's positions. */
  async write(batch: OutputBatch<T>): Promise<void> {
    const writes: Write[] = []
    const bad: BadRow[] = []
    batch.rows.forEach((row, index) => {
      const made = rowDocument(this.#settings, this.#pipelineId, batch.batchId, row, index)
      if ('reason' in made) bad.push(made)
      else writes.push(this.#operation(made))
    })
    this.#prepared = { batch, writes, bad }
    if (bad.length > 0 && this.#settings.onError === 'fail') throw this.#refusedError(bad[0]!, batch.batchId)
  }

  #operation({ index, document }: RowDocument): Write {
    if (this.#settings.mode === 'insert') return { index, document, operation: { insertOne: { document } } }
    return {
      index,
      document,
      operation: { replaceOne: { filter: byIds([document._id]), replacement: document, upsert: true } },
    }
  }

  async commit(batch: OutputBatch<T>, context: SinkCommitContext): Promise<void> {
    if (this.#prepared?.batch !== batch) await this.write(batch)
    const prepared = this.#prepared!
    try {
      if (!this.#transactions) {
        await this.#apply(prepared, context, undefined, new Map())
        return
      }
      const excluded = new Map<number, string>()
      for (;;) {
        const session = this.#client!.startSession()
        try {
          await session.withTransaction(() => this.#apply(prepared, context, session, excluded))
          return
        } catch (error) {
          if (!(error instanceof RefusedInTransaction)) throw error
          // Each try leaves out at least one more row, so this ends.
          for (const [index, reason] of error.refused) excluded.set(index, reason)
        } finally {
          await session.endSession()
        }
      }
    } catch (error) {
      throw wrap(error, `committing batch ${batch.batchId}`)
    }
  }

  /**
   * The batch's writes, in order: positions read, rows, dead letters, positions. With a session, inside its
   * transaction (`excluded`: rows a previous try found refused); without, each write stands on its own.
   */
  async #apply(
    prepared: Prepared<T>,
    context: SinkCommitContext,
    session: ClientSession | undefined,
    excluded: ReadonlyMap<number, string>,
  ): Promise<void> {
    const { batch } = prepared
    const positions = this.#positions!
    const stored = await positions.read(session)
    const decision = decideReplay(stored, batch.batchId, context.records)
    if (decision.kind === 'conflict') throw this.#conflict(stored, batch.batchId, decision.record)
    if (decision.kind === 'skip') return
    const writes = prepared.writes.filter((w) => !excluded.has(w.index))
    const chunk = this.#settings.mode === 'insert' ? INSERT_CHUNK : UPDATE_CHUNK
    const write = (collection: Collection<SinkDocument>, items: readonly Write[], size: number) =>
      session === undefined
        ? writeInChunks(collection, items, { chunk: size, maxDocumentBytes: this.#maxDocumentBytes })
        : writeInTransaction(collection, items, {
            chunk: size,
            maxDocumentBytes: this.#maxDocumentBytes,
            session,
          })
    const refused = await write(this.#data!, writes, chunk)
    if (session !== undefined && refused.size > 0) throw new RefusedInTransaction(refused)
    const bad = [...prepared.bad]
    for (const [index, reason] of [...excluded, ...refused]) {
      const write = prepared.writes.find((w) => w.index === index)
      bad.push({ index, row: batch.rows[index], reason, key: write ? idText(write.document) : null })
    }
    bad.sort((a, b) => a.index - b.index)
    if (bad.length > 0 && this.#settings.onError === 'fail') throw this.#refusedError(bad[0]!, batch.batchId)

    const letters = [
      ...deadLetterOperations(this.#pipelineId, batch.batchId, batch.deadLetters, 'pipeline'),
      ...deadLetterOperations(this.#pipelineId, batch.batchId, this.#letters(bad), 'sink'),
    ].map((operation, index) => ({
      index,
      document: operation.insertOne.document,
      operation,
    }))
    const lost = await write(this.#deadLetters!, letters, INSERT_CHUNK)
    if (lost.size > 0) {
      const [index, reason] = [...lost][0]!
      throw new MongoSinkError(
        `mongodb sink: the server refused dead letter ${index} of batch ${batch.batchId} (${reason}); the batch is not committed and is tried again`,
      )
    }
    await positions.store(batch.batchId, context.next, stored, session)
    prepared.bad.splice(0, prepared.bad.length, ...bad)
  }

  async abort(): Promise<void> {
    this.#prepared = undefined
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
    await client?.close().catch(() => {})
  }

  #letters(bad: readonly BadRow[]): DeadLetter[] {
    return bad.map((b) => sinkDeadLetter(this.#operator, b.reason, b.row, b.key))
  }

  async #readStored(): Promise<StoredPosition> {
    try {
      return await this.#positions!.read()
    } catch (error) {
      throw wrap(error, `reading the positions of ${this.#pipelineId}`)
    }
  }

  #refusedError(bad: BadRow, batchId: number): MongoSinkError {
    return new MongoSinkError(
      `mongodb sink: row ${bad.index} of batch ${batchId}${bad.key === null ? '' : ` (_id ${bad.key})`} cannot be written: ${bad.reason}. onError is 'fail': the positions stay before the batch.`,
      { domain: 'user', retryable: false },
    )
  }

  #conflict(
    stored: StoredPosition,
    batchId: number,
    record: { partition: string; offset: number },
  ): MongoSinkError {
    const where = `${this.#settings.database}.${this.#settings.positionsCollection}`
    return new MongoSinkError(
      `mongodb sink: ${where} says pipeline "${this.#pipelineId}" committed batch ${stored.batchId} up to ` +
        `${JSON.stringify(stored.positions)}, but batch ${batchId} holds input before that (${record.partition}@${record.offset}): ` +
        `the checkpoint does not belong with this database. Run with the checkpoint that wrote it, or delete the pipeline's documents of ${where} (and the rows) to write everything again.`,
      { domain: 'user', retryable: false },
    )
  }
}

/** Errors of our own pass as they are; the driver's (connection lost, refused) are retryable MongoSinkErrors. */
function wrap(error: unknown, doing: string): Error {
  if (error instanceof MongoSinkError || error instanceof UsageError) return error
  return new MongoSinkError(`mongodb sink: ${doing}: ${serverMessage(error)}`, {
    cause: error,
    retryable: true,
  })
}
