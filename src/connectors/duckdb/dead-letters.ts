import { type DuckDBConnection, DuckDBTimestampTZValue } from '@duckdb/node-api'
import { UsageError } from '../../errors.ts'
import type { DeadLetter } from '../../runtime/sink.ts'
import { notARow, rowText, utf8Text } from '../sql/index.ts'
import type { DuckDBSettings } from './options.ts'
import type { Prepared } from './prepare.ts'
import { describeTable, tableName } from './schema.ts'

export function deadLetterTableSql(settings: DuckDBSettings): string {
  return `CREATE TABLE IF NOT EXISTS ${tableName(settings.schema, settings.deadLetterTable)} (
     pipeline_id VARCHAR NOT NULL, batch_id BIGINT NOT NULL, target_table VARCHAR NOT NULL,
     operator VARCHAR NOT NULL, reason VARCHAR NOT NULL, source_partition VARCHAR, source_offset BIGINT,
     key VARCHAR, raw VARCHAR, raw_encoding VARCHAR, event_time TIMESTAMP WITH TIME ZONE,
     dead_lettered_at TIMESTAMP WITH TIME ZONE NOT NULL)`
}

/** An existing dead-letter table must have Sluice's columns. */
export async function checkDeadLetterTable(conn: DuckDBConnection, settings: DuckDBSettings): Promise<void> {
  const s = settings
  const described = await describeTable(conn, s.schema, s.deadLetterTable)
  const expected = [
    'pipeline_id',
    'batch_id',
    'target_table',
    'operator',
    'reason',
    'source_partition',
    'source_offset',
    'key',
    'raw',
    'raw_encoding',
    'event_time',
    'dead_lettered_at',
  ]
  const actual = described?.columns.map((c) => c.name) ?? []
  if (actual.join(',') !== expected.join(','))
    throw new UsageError(
      `DuckDB sink: the dead-letter table ${s.schema}.${s.deadLetterTable} has the columns (${actual.join(', ')}), ` +
        `not Sluice's (${expected.join(', ')}); choose another deadLetterTable.`,
    )
}

/** The pipeline's dead letters and the refused rows, with the appender, in the batch's transaction. */
export async function appendDeadLetters<T>(
  conn: DuckDBConnection,
  prepared: Prepared<T>,
  settings: DuckDBSettings,
  pipelineId: string,
): Promise<void> {
  const s = settings
  const letters = prepared.batch.deadLetters
  if (letters.length === 0 && prepared.rejected.length === 0) return
  const appender = await conn.createAppender(s.deadLetterTable, s.schema)
  const now = new DuckDBTimestampTZValue(BigInt(Date.now()) * 1000n)
  const batchId = BigInt(prepared.batch.batchId)
  const target = `${s.schema}.${s.table}`
  const text = (v: string | null) => (v === null ? appender.appendNull() : appender.appendVarchar(v))
  const common = () => {
    appender.appendVarchar(pipelineId)
    appender.appendBigInt(batchId)
    appender.appendVarchar(target)
  }
  try {
    for (const letter of letters) {
      const raw = rawText(letter)
      common()
      appender.appendVarchar(letter.operator)
      appender.appendVarchar(letter.reason)
      text(letter.partition)
      appender.appendBigInt(BigInt(Math.trunc(letter.offset)))
      text(letter.key)
      text(raw.text)
      text(raw.encoding)
      if (Number.isFinite(letter.timestamp))
        appender.appendTimestampTZ(new DuckDBTimestampTZValue(BigInt(Math.trunc(letter.timestamp)) * 1000n))
      else appender.appendNull()
      appender.appendTimestampTZ(now)
      appender.endRow()
    }
    for (const r of prepared.rejected) {
      common()
      appender.appendVarchar('sink')
      appender.appendVarchar(r.reason)
      appender.appendNull()
      appender.appendNull()
      text(keyText(r.row, s.keyColumns))
      appender.appendVarchar(rowText(r.row))
      appender.appendNull()
      appender.appendNull()
      appender.appendTimestampTZ(now)
      appender.endRow()
    }
    appender.closeSync()
  } catch (error) {
    try {
      appender.closeSync()
    } catch {
      // aborted transaction: rolled back by the caller
    }
    throw error
  }
}

/** A refused row's key: its key column's value (or the values) as JSON; null for a row that is no object. */
export function keyText(row: unknown, keyColumns: readonly string[]): string | null {
  if (keyColumns.length === 0 || notARow(row) !== undefined) return null
  const record = row as Readonly<Record<string, unknown>>
  return rowText(keyColumns.length === 1 ? record[keyColumns[0]!] : keyColumns.map((k) => record[k]))
}

/** The raw bytes as text when they are UTF-8, otherwise base64 (and said so). */
function rawText(letter: DeadLetter): { text: string | null; encoding: string | null } {
  const raw = letter.raw
  if (raw === null) return { text: null, encoding: null }
  if (typeof raw === 'string') return { text: raw, encoding: null }
  const text = utf8Text(raw)
  return text === undefined ? { text: raw.toString('base64'), encoding: 'base64' } : { text, encoding: null }
}
