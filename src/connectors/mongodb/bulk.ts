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
 * reason. A chunk the server or the driver refuses in part is split in halves and sent again until each
 * refused write stands alone, since the write error's index cannot be trusted (FerretDB 1.24 fails a whole
 * update command for one bad replacement and names index 0): every write here can be sent twice, an upsert
 * by its `_id` and an insert whose `_id` the sink made (a duplicate of an `_id` that is there is a write
 * already done, by this batch's earlier try or a run that crashed before its positions moved). A chunk in
 * which every write alone is refused throws the first error instead: that is the server failing (its
 * database away), not the documents.
 */
export async function writeInChunks(
  collection: Collection<Document>,
  writes: readonly Write[],
  options: BulkOptions,
): Promise<Map<number, string>> {
  const refused = new Map<number, string>()
  for (let i = 0; i < writes.length; i += options.chunk) {
    const chunk = writes.slice(i, i + options.chunk)
    const error = await attempt(collection, chunk)
    if (error === undefined) continue
    const found = new Map<number, string>()
    await isolate(collection, chunk, error, options, found)
    if (found.size === chunk.length && chunk.length > 1) throw error
    for (const [index, reason] of found) refused.set(index, reason)
  }
  return refused
}

/** Sends a chunk: undefined when it all landed, the refusal otherwise; throws what is no refusal. */
async function attempt(collection: Collection<Document>, chunk: readonly Write[]): Promise<unknown> {
  if (chunk.length === 0) return undefined
  try {
    await collection.bulkWrite(
      chunk.map((w) => w.operation),
      { ordered: false },
    )
    return undefined
  } catch (error) {
    if (isRefusal(error)) return error
    throw error
  }
}

async function isolate(
  collection: Collection<Document>,
  chunk: readonly Write[],
  error: unknown,
  options: BulkOptions,
  refused: Map<number, string>,
): Promise<void> {
  if (chunk.length === 1) {
    const write = chunk[0]!
    if (await alreadyWritten(collection, write, error)) return
    refused.set(write.index, reasonOf(error, write, options.maxDocumentBytes))
    return
  }
  const mid = chunk.length >>> 1
  for (const half of [chunk.slice(0, mid), chunk.slice(mid)]) {
    const again = await attempt(collection, half)
    if (again !== undefined) await isolate(collection, half, again, options, refused)
  }
}

/** An insert refused as a duplicate whose `_id` is there: written before. */
async function alreadyWritten(
  collection: Collection<Document>,
  write: Write,
  error: unknown,
): Promise<boolean> {
  if (!('insertOne' in write.operation) || !writeErrorsOf(error).some((e) => e.code === DUPLICATE_KEY))
    return false
  return (await collection.countDocuments(byIds([write.document._id]), { limit: 1 })) > 0
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
  if (error instanceof MongoBulkWriteError && error.writeConcernError) return false
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
