import {
  type AnyBulkWriteOperation,
  BSON,
  type ClientSession,
  type Collection,
  type Document,
  type Filter,
  MongoBulkWriteError,
  MongoInvalidArgumentError,
  MongoServerError,
  type WriteError,
} from 'mongodb'
import { type ChunkOutcome, isolateRefused } from '../sql/index.ts'
import { serverMessage } from './errors.ts'

/** A document as the sink writes it: any `_id` (a key's value, an object of key fields, text). */
export type SinkDocument = Document

/** A filter on `_id`s of any type (the driver's types take ObjectIds only, unless told the schema). */
export function byIds(ids: readonly unknown[]): Filter<Document> {
  return { _id: ids.length === 1 ? ids[0] : { $in: ids } } as Filter<Document>
}

/** One write of a batch: the row (or dead letter) it came from and its operation. */
export interface Write {
  readonly index: number
  readonly document: SinkDocument
  readonly operation: AnyBulkWriteOperation<Document>
}

export interface BulkOptions {
  /** Operations per command: bounded, see README.md ("FerretDB"). */
  readonly chunk: number
  /** The server's largest document (hello's maxBsonObjectSize). */
  readonly maxDocumentBytes: number
}

const DUPLICATE_KEY = 11000

/**
 * Writes in chunks of unordered bulk writes, without a transaction, and returns the writes refused with the
 * reason. Every write here can be sent twice: an upsert by its `_id`, and an insert whose `_id` the sink made,
 * so that a duplicate of it is a write already done (by this batch's earlier try, or a run that crashed before
 * its positions moved).
 *
 * Inserts refused one by one are known by the server's write errors (MongoDB and FerretDB name each refused
 * insert of an unordered write, and write the rest): a duplicate `_id` is taken as written, any other refusal
 * is the row's. A replayed batch thus costs a command per chunk, whatever it finds there (FerretDB looks a
 * document up by `_id` with a scan of the whole collection, so one look-up per duplicate stalled a restart
 * for minutes). A chunk refused as a whole (FerretDB fails a whole update command for one bad replacement and
 * names index 0; the driver refuses a document it cannot encode) is split until each refused write stands
 * alone (src/connectors/sql/isolate.ts). A chunk whose every write is then refused alone throws the first
 * error instead: that is the server failing (its database away), not the documents.
 */
export async function writeInChunks(
  collection: Collection<Document>,
  writes: readonly Write[],
  options: BulkOptions,
): Promise<Map<number, string>> {
  const refused = new Map<number, string>()
  for (let i = 0; i < writes.length; i += options.chunk) {
    const chunk = writes.slice(i, i + options.chunk)
    const alone = new Map<number, string>()
    let first: unknown
    await isolateRefused(
      chunk,
      (part) => attempt(collection, part, refused),
      (write, error) => {
        first ??= error
        alone.set(write.index, reasonOf(error, write, options.maxDocumentBytes))
      },
    )
    if (alone.size === chunk.length && chunk.length > 1) throw first
    for (const [index, reason] of alone) refused.set(index, reason)
  }
  return refused
}

/**
 * Sends a chunk. Undefined when it is done: all written, or inserts the server refused one by one (their
 * reasons put in `refused`, duplicates of the sink's own `_id`s taken as written); the refusal of the whole
 * chunk otherwise. Throws what is no refusal (a lost connection).
 */
async function attempt(
  collection: Collection<Document>,
  chunk: readonly Write[],
  refused: Map<number, string>,
): Promise<ChunkOutcome<unknown>> {
  try {
    await collection.bulkWrite(
      chunk.map((w) => w.operation),
      { ordered: false },
    )
    return undefined
  } catch (error) {
    if (!isRefusal(error)) throw error
    const named = insertErrorsOf(error, chunk)
    if (named === undefined) return { error }
    const duplicates = named.filter(([, e]) => e.code === DUPLICATE_KEY).map(([write]) => write)
    const written = await writtenBefore(collection, duplicates)
    for (const [write, e] of named) if (!written.has(write.index)) refused.set(write.index, serverMessage(e))
    return undefined
  }
}

/**
 * The write errors of a chunk of inserts refused one by one, with their writes; undefined when the chunk holds
 * other writes, or when the inserted and the named do not make the whole chunk (a command of it was refused
 * as a whole: the driver then names its first write, or none).
 */
function insertErrorsOf(error: unknown, chunk: readonly Write[]): [Write, WriteError][] | undefined {
  if (!(error instanceof MongoBulkWriteError) || !chunk.every((w) => 'insertOne' in w.operation))
    return undefined
  const errors = writeErrorsOf(error)
  if (errors.length === 0 || error.insertedCount + errors.length !== chunk.length) return undefined
  const named: [Write, WriteError][] = []
  for (const e of errors) {
    const write = chunk[e.index]
    if (write === undefined) return undefined
    named.push([write, e])
  }
  return named
}

/**
 * Of inserts refused as duplicates, those whose `_id` is there (the indexes of their writes). When `_id` is
 * the collection's only unique index, that is each of them, and nothing is read; otherwise their `_id`s are
 * looked up, in one query.
 */
async function writtenBefore(
  collection: Collection<Document>,
  writes: readonly Write[],
): Promise<Set<number>> {
  if (writes.length === 0) return new Set()
  const indexes = await collection.listIndexes().toArray()
  if (!indexes.some((index) => index.unique === true && index.name !== '_id_'))
    return new Set(writes.map((w) => w.index))
  const found = await collection
    .find(byIds(writes.map((w) => w.document._id)), { projection: { _id: 1 } })
    .toArray()
  const ids = new Set(found.map((d) => idKey(d._id)))
  return new Set(writes.filter((w) => ids.has(idKey(w.document._id))).map((w) => w.index))
}

/** An `_id` as comparable text (an insert's `_id` is the sink's own text, but any value compares this way). */
function idKey(id: unknown): string {
  return JSON.stringify(BSON.EJSON.serialize({ id }))
}

/**
 * A refusal of what was sent: the server's answer to a command (not a lost connection, not a server
 * shutting down), or a document the driver cannot encode.
 */
export function isRefusal(error: unknown): boolean {
  if (
    error instanceof BSON.BSONError ||
    error instanceof RangeError ||
    error instanceof MongoInvalidArgumentError
  )
    return true
  if (!(error instanceof MongoServerError)) return false
  if (error instanceof MongoBulkWriteError) {
    if (error.writeConcernError) return false
    // A bulk write that failed on the way (a lost connection, no server to select) is a MongoBulkWriteError
    // around the driver's own error, which is what decides.
    const cause: unknown = error.errorResponse
    if (cause instanceof Error && cause !== error) return isRefusal(cause)
  }
  return !error.hasErrorLabel('RetryableWriteError') && !SHUTTING_DOWN.has(Number(error.code))
}

/** InterruptedAtShutdown, ShutdownInProgress, PrimarySteppedDown, NotWritablePrimary, HostUnreachable… */
const SHUTTING_DOWN = new Set([6, 7, 89, 91, 189, 10107, 11600, 11602, 13435, 13436])

export function writeErrorsOf(error: unknown): WriteError[] {
  return error instanceof MongoBulkWriteError ? ([] as WriteError[]).concat(error.writeErrors) : []
}

/** The server's message for the one write refused, or why the driver could not send it. */
function reasonOf(error: unknown, write: Write, maxBytes: number): string {
  if (!(error instanceof MongoServerError))
    return encodingProblem(write.document, maxBytes) ?? serverMessage(error)
  const [first] = writeErrorsOf(error)
  return serverMessage(first ?? error)
}

/** Why the driver cannot send a document, or undefined. */
function encodingProblem(document: Document, maxBytes: number): string | undefined {
  try {
    const bytes = BSON.calculateObjectSize(document)
    if (bytes > maxBytes)
      return `the document is ${bytes} bytes as BSON, more than the server's limit of ${maxBytes}`
    BSON.serialize(document)
    return undefined
  } catch (error) {
    return `the document cannot be encoded as BSON: ${serverMessage(error)}`
  }
}

/**
 * In a transaction a refused write aborts it, so nothing is split here: the writes the server names (a real
 * MongoDB names each write it refuses) are returned, to be left out of the next try; a refusal that names
 * none, or names a write not sent, throws.
 */
export async function writeInTransaction(
  collection: Collection<Document>,
  writes: readonly Write[],
  options: BulkOptions & { readonly session: ClientSession },
): Promise<Map<number, string>> {
  const refused = new Map<number, string>()
  for (let i = 0; i < writes.length; i += options.chunk) {
    const chunk = writes.slice(i, i + options.chunk)
    try {
      await collection.bulkWrite(
        chunk.map((w) => w.operation),
        { ordered: true, session: options.session },
      )
    } catch (error) {
      const named = writeErrorsOf(error)
      if (!isRefusal(error) || named.length === 0 || named.some((e) => chunk[e.index] === undefined))
        throw error
      for (const e of named) refused.set(chunk[e.index]!.index, serverMessage(e))
      return refused
    }
  }
  return refused
}
