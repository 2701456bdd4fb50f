import { notARow } from '../sql/index.ts'
import type { SinkDocument } from './bulk.ts'
import type { MongoSettings } from './options.ts'

/** What one row becomes: its document, whose `_id` the sink chose (insert) or took from the key (upsert). */
export interface RowDocument {
  /** The row's index in its batch, for its dead letter. */
  readonly index: number
  readonly document: SinkDocument
}

/** A row the sink cannot write, with the reason (the sink's own, the driver's or the server's message). */
export interface BadRow {
  readonly index: number
  readonly row: unknown
  readonly reason: string
  /** The document's `_id` as JSON, when it has one. */
  readonly key: string | null
}

/**
 * The `_id` of an inserted row: the pipeline, the batch and the row's place in it. The runtime gives a batch
 * id the same rows whenever it writes the batch again, so a replay rewrites exactly these documents. The two
 * numbers last keep the text unambiguous whatever the pipeline id holds.
 */
export function insertId(pipelineId: string, batchId: number, index: number): string {
  return `${pipelineId}:${batchId}:${index}`
}

/** The `_id` of a row in mode 'upsert': the key field's value, or an object of the key fields in order. */
function keyId(
  key: readonly string[],
  fields: Readonly<Record<string, unknown>>,
): { readonly id: unknown } | { readonly problem: string } {
  const values: Record<string, unknown> = {}
  for (const name of key) {
    const value = fields[name]
    if (value === undefined || value === null)
      return { problem: `the key field "${name}" is missing or null` }
    values[name] = value
  }
  return { id: key.length === 1 ? values[key[0]!] : values }
}

/** The document of one row, or why it has none (not an object, no key, an `_id` of its own). */
export function rowDocument(
  settings: MongoSettings,
  pipelineId: string,
  batchId: number,
  row: unknown,
  index: number,
): RowDocument | BadRow {
  const notRow = notARow(row)
  if (notRow !== undefined) return { index, row, reason: notRow, key: null }
  const fields = row as Readonly<Record<string, unknown>>
  const keyedById = settings.key.length === 1 && settings.key[0] === '_id'
  if (Object.hasOwn(fields, '_id') && !keyedById)
    return {
      index,
      row,
      reason:
        settings.mode === 'insert'
          ? "the row has an _id field of its own; mode 'insert' makes each _id (declare key: '_id' to upsert by it)"
          : `the row has an _id field of its own, but the key is ${JSON.stringify(settings.key)}`,
      key: null,
    }
  const keyed =
    settings.mode === 'insert' ? { id: insertId(pipelineId, batchId, index) } : keyId(settings.key, fields)
  if ('problem' in keyed) return { index, row, reason: keyed.problem, key: null }
  const id = keyed.id
  // `_id` first: the driver refuses a replacement whose first field starts with "$" before the server sees it.
  return { index, document: { _id: id, ...fields } }
}

/** A document's `_id` as dead-letter text. */
export function idText(document: Readonly<Record<string, unknown>>): string {
  try {
    return JSON.stringify(document._id) ?? String(document._id)
  } catch {
    return String(document._id)
  }
}
