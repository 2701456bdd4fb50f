import type { PoolConnection } from 'mysql2/promise'
import { cutValue, describeCut, rawBytes } from '../../runtime/dead-letter-cut.ts'
import type { OutputBatch } from '../../runtime/sink.ts'
import { rowText } from '../sql/index.ts'
import { MySqlRejectedError } from './errors.ts'
import { largestPowerOfTwo } from './options.ts'
import { quoteId, toSqlDateTime } from './sql.ts'
import { estimateBytes, type Param } from './values.ts'
import type { Refused } from './write-rows.ts'

/** Text columns of the dead-letter table are TEXT (64 KiB); longer reasons and keys are cut. */
const MAX_TEXT = 16_000

/** The pipeline's dead letters and the refused rows, in multi-row INSERTs inside the batch's transaction. */
export async function insertDeadLetters(
  conn: PoolConnection,
  batch: OutputBatch<unknown>,
  refused: readonly Refused[],
  context: {
    readonly table: string
    readonly pipelineId: string
    readonly key: readonly string[]
    readonly maxStatementBytes: number
  },
): Promise<void> {
  const letters: Param[][] = []
  const cut = (s: string) => (s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT)}…` : s)
  const maxRaw = Math.floor(context.maxStatementBytes / 2)
  // A raw value too big for one statement (max_allowed_packet) keeps its start; the reason says how it was cut.
  const fitted = (value: Buffer | string | null, reason: string): [Buffer | null, string] => {
    if (value === null) return [null, reason]
    const bytes = rawBytes(value)
    if (bytes.length <= maxRaw) return [bytes, reason]
    const cut = cutValue(bytes, maxRaw)
    return [cut.value, `${reason} (${describeCut(cut)})`]
  }
  const time = (ms: number) =>
    Number.isFinite(ms) && ms >= 0 && ms < 253402300800000 ? toSqlDateTime(ms) : null
  for (const d of batch.deadLetters) {
    const [raw, reason] = fitted(d.raw, cut(d.reason))
    letters.push([
      context.pipelineId,
      batch.batchId,
      cut(d.operator),
      reason,
      null,
      cut(d.partition),
      Number.isFinite(d.offset) ? d.offset : null,
      d.key === null ? null : cut(d.key),
      raw,
      time(d.timestamp),
    ])
  }
  for (const r of refused) {
    const row = batch.rows[r.index]
    const key = keyOf(row, context.key)
    const [raw, reason] = fitted(rowText(row, maxRaw), cut(r.reason))
    letters.push([
      context.pipelineId,
      batch.batchId,
      'sink',
      reason,
      r.code,
      null,
      null,
      key === null ? null : cut(key),
      raw,
      null,
    ])
  }
  if (letters.length === 0) return
  const tuple = '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)'
  const head = `INSERT INTO ${quoteId(context.table)} (pipeline_id, batch_id, operator, reason, error_code, source_partition, source_offset, record_key, raw, event_time) VALUES `
  let start = 0
  while (start < letters.length) {
    let n = 0
    let size = 0
    while (start + n < letters.length && n < 1024) {
      const next = letters[start + n]!.reduce<number>((s, v) => s + estimateBytes(v), 0)
      if (n > 0 && size + next > context.maxStatementBytes) break
      size += next
      n++
    }
    n = largestPowerOfTwo(n)
    await conn.execute(head + new Array(n).fill(tuple).join(', '), letters.slice(start, start + n).flat())
    start += n
  }
}

/** A refused row's key for its dead letter: the key columns' values as JSON. */
export function keyOf(row: unknown, key: readonly string[]): string | null {
  if (key.length === 0 || row === null || typeof row !== 'object') return null
  return rowText(key.map((k) => (row as Record<string, unknown>)[k] ?? null))
}

/** onError 'fail': the first refused row, and how many there were. */
export function rejectedError(
  batch: OutputBatch<unknown>,
  refused: readonly Refused[],
  target: string,
): MySqlRejectedError {
  const first = refused[0]!
  const row = rowText(batch.rows[first.index], 501)
  return new MySqlRejectedError(
    `mysql(): table ${target} refused ${refused.length} row(s) of batch ${batch.batchId}, nothing of the batch was written (onError: 'fail'). First: ${first.reason}; row ${first.index}: ${row.length > 500 ? `${row.slice(0, 500)}…` : row}`,
  )
}
