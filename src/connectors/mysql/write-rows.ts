import type { PoolConnection } from 'mysql2/promise'
import { isolateRefused, jsonProblem, notARow, showName } from '../sql/index.ts'
import { asServerError, classify, rowMessage } from './errors.ts'
import { largestPowerOfTwo } from './options.ts'
import type { MySqlTable } from './table.ts'
import { estimateBytes, exactBytes, type Param, ValueRefused } from './values.ts'

/** Prepared statements allow 65 535 placeholders. */
const MAX_PLACEHOLDERS = 65_535

/** What the server allows, read at open. */
export interface ServerLimits {
  /** Rows per INSERT at most: a power of two. */
  readonly maxRows: number
  /** The server's max_allowed_packet. */
  readonly maxPacket: number
  /** Bytes per statement at most: under max_allowed_packet. */
  readonly maxStatementBytes: number
}

/** A row the sink did not write, with the server's (or the sink's) reason. */
export interface Refused {
  readonly index: number
  readonly reason: string
  readonly code: number | null
}

/** A row as statement values, with a size estimate to keep statements under the packet limit. */
interface Converted {
  readonly values: Param[]
  readonly bytes: number
  /** The row's index in the batch. */
  readonly index: number
}

/**
 * Multi-row INSERTs of power-of-two row counts (few distinct prepared statements), each under the packet
 * and placeholder limits. Rows are converted a statement ahead, while the server executes the previous one.
 * A statement the server refuses for a row's data is undone by InnoDB as a whole (statement atomicity),
 * then split in halves until the refused rows are alone (src/connectors/sql/isolate.ts): they go to
 * `refused` with the server's message, the others are written.
 */
export async function insertRows(
  conn: PoolConnection,
  table: MySqlTable,
  limits: ServerLimits,
  rows: readonly unknown[],
  refused: Refused[],
  skip: ReadonlyMap<number, string>,
): Promise<void> {
  if (rows.length === 0) return
  if (table.columns.length === 0) {
    for (let i = 0; i < rows.length; i++)
      refused.push({ index: i, reason: skip.get(i) ?? 'the row has no field with a value yet', code: null })
    return
  }
  const cap = largestPowerOfTwo(Math.min(limits.maxRows, Math.floor(MAX_PLACEHOLDERS / table.columns.length)))
  const limit = limits.maxStatementBytes
  let queue: Converted[] = []
  let queuedBytes = 0
  let next = 0
  const take = (): Converted[] | undefined => {
    while (queue.length < cap && queuedBytes <= limit && next < rows.length) {
      const reason = skip.get(next)
      const converted = reason === undefined ? convert(table, limits, rows[next], next, refused) : undefined
      if (reason !== undefined) refused.push({ index: next, reason, code: null })
      next++
      if (converted) {
        queue.push(converted)
        queuedBytes += converted.bytes
      }
    }
    if (queue.length === 0) return undefined
    let n = 0
    let size = 0
    while (n < queue.length && n < cap) {
      const bytes = queue[n]!.bytes
      if (n > 0 && size + bytes > limit) break
      size += bytes
      n++
    }
    n = largestPowerOfTwo(n)
    const chunk = queue.slice(0, n)
    queue = queue.slice(n)
    for (const c of chunk) queuedBytes -= c.bytes
    return chunk
  }
  let chunk = take()
  while (chunk) {
    const sending = insertChunk(conn, table, chunk, refused)
    sending.catch(() => {}) // awaited below; converting the next chunk meanwhile must not leave it unhandled
    const following = take()
    await sending
    chunk = following
  }
}

function insertChunk(
  conn: PoolConnection,
  table: MySqlTable,
  chunk: readonly Converted[],
  refused: Refused[],
): Promise<void> {
  return isolateRefused(
    chunk,
    async (rows) => {
      const params: Param[] = []
      for (const row of rows) for (const v of row.values) params.push(v)
      try {
        await conn.execute(table.insertSql(rows.length), params)
        return undefined
      } catch (error) {
        if (classify(error) !== 'data') throw error
        return { error }
      }
    },
    (row, error) => {
      refused.push({ index: row.index, reason: rowMessage(error), code: asServerError(error)?.errno ?? null })
    },
  )
}

/** A row as statement values with a size estimate, or undefined when it is refused here (into `refused`). */
function convert(
  table: MySqlTable,
  limits: ServerLimits,
  row: unknown,
  index: number,
  refused: Refused[],
): Converted | undefined {
  const columns = table.columns
  const converters = table.converters
  const problem = notARow(row)
  if (problem !== undefined) {
    refused.push({ index, reason: problem, code: null })
    return undefined
  }
  const record = row as Record<string, unknown>
  const values = new Array<Param>(columns.length)
  let bytes = columns.length * 3 + 4 // its share of the statement text
  let c = 0
  try {
    for (; c < columns.length; c++) {
      const v = converters[c]!(record[columns[c]!])
      values[c] = v
      bytes += estimateBytes(v)
    }
  } catch (error) {
    // A value the server would store wrongly, or one JSON.stringify cannot take (too deep, circular).
    const reason =
      error instanceof ValueRefused ? error.message : `field ${showName(columns[c]!)}: ${jsonProblem(error)}`
    refused.push({ index, reason, code: null })
    return undefined
  }
  if (bytes > limits.maxStatementBytes) {
    const exact = exactBytes(values)
    if (exact > limits.maxPacket - 64 * 1024) {
      refused.push({
        index,
        reason: `the row takes ${exact} bytes, more than the server's max_allowed_packet (${limits.maxPacket})`,
        code: null,
      })
      return undefined
    }
    bytes = exact
  }
  return { values, bytes, index }
}
