import {
  type AnyBulkWriteOperation,
  BSON,
  type ClientSession,
  type Collection,
  type Document,
  type Filter,
  MongoBulkWriteError,
  MongoInvalidArgumentError,
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
  readonly operation: AnyBulkWriteOperation<SinkDocument>
}

export interface BulkOptions {
  /** Operations per command: bounded, see README.md ("FerretDB"). */
  readonly chunk: number
  /** The server's largest document (hello's maxBsonObjectSize). */
  readonly maxDocumentBytes: number
  readonly session?: ClientSession | undefined
  /**
   * Inserts refused as duplicates of an `_id` that is there are written already (the sink's own `_id`s, by
   * a run that crashed before its positions moved): true on the path without transactions.
   */
  readonly duplicateIsWritten: boolean
}

const DUPLICATE_KEY = 11000

/**
 * Writes in chunks of unordered bulk writes and returns the writes refused, with the reason: the server's
 * message for each write it refused (the others of the chunk land), and the driver's for a document it
 * cannot encode (a field name with a NUL, a document over the size limit), which it finds before sending
 * anything of the chunk: such a chunk is checked document by document and sent again without them.
 */
export async function writeInChunks(
  collection: Collection<SinkDocument>,
  writes: readonly Write[],
  options: BulkOptions,
): Promise<Map<number, string>> {
  const refused = new Map<number, string>()
  for (let i = 0; i < writes.length; i += options.chunk) {
    let chunk = writes.slice(i, i + options.chunk)
    try {
      await send(collection, chunk, options)
    } catch (error) {
      if (!isEncodingError(error)) {
        await throwUnlessRefusals(error, collection, chunk, options, refused)
        continue
      }
      const unencodable = chunk.flatMap((w) => {
        const problem = encodingProblem(w.document, options.maxDocumentBytes)
        return problem === undefined ? [] : [[w.index, problem] as const]
      })
      if (unencodable.length === 0) throw error
      for (const [index, problem] of unencodable) refused.set(index, problem)
      chunk = chunk.filter((w) => !refused.has(w.index))
      try {
        await send(collection, chunk, options)
      } catch (again) {
        await throwUnlessRefusals(again, collection, chunk, options, refused)
      }
    }
  }
  return refused
}

async function send(collection: Collection<SinkDocument>, chunk: readonly Write[], options: BulkOptions) {
  if (chunk.length === 0) return
  await collection.bulkWrite(
    chunk.map((w) => w.operation),
    { ordered: false, ...(options.session === undefined ? {} : { session: options.session }) },
  )
}

/**
 * Adds the writes the server refused to `refused` when the error says only that (every other write of an
 * unordered bulk write was applied); throws it otherwise (a lost connection, a write concern not met).
 */
async function throwUnlessRefusals(
  error: unknown,
  collection: Collection<SinkDocument>,
  chunk: readonly Write[],
  options: BulkOptions,
  refused: Map<number, string>,
): Promise<void> {
  if (!(error instanceof MongoBulkWriteError) || error.writeConcernError) throw error
  const writeErrors = ([] as WriteError[]).concat(error.writeErrors)
  if (writeErrors.length === 0 || writeErrors.some((e) => chunk[e.index] === undefined)) throw error
  const duplicates: Write[] = []
  for (const writeError of writeErrors) {
    const write = chunk[writeError.index]!
    if (options.duplicateIsWritten && writeError.code === DUPLICATE_KEY && 'insertOne' in write.operation)
      duplicates.push(write)
    else refused.set(write.index, serverMessage(writeError))
  }
  if (duplicates.length > 0) {
    // A duplicate of another unique index (one of the user's) is a refusal: the `_id` tells them apart.
    const ids = duplicates.map((w) => w.document._id)
    const found = await collection
      .find(
        { _id: { $in: ids } },
        { projection: { _id: 1 }, ...(options.session ? { session: options.session } : {}) },
      )
      .toArray()
    const there = new Set(found.map((d) => JSON.stringify(d._id)))
    for (const write of duplicates)
      if (!there.has(JSON.stringify(write.document._id)))
        refused.set(write.index, serverMessage(writeErrors.find((e) => chunk[e.index] === write)))
  }
}

function isEncodingError(error: unknown): boolean {
  return (
    error instanceof BSON.BSONError ||
    error instanceof RangeError ||
    error instanceof MongoInvalidArgumentError
  )
}

/** Why the driver cannot send a document, or undefined. */
function encodingProblem(document: SinkDocument, maxBytes: number): string | undefined {
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
