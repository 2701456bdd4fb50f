import type pg from 'pg'
import { UsageError } from '../../errors.ts'
import type { OutputBatch } from '../../runtime/sink.ts'
import { isolateRefused } from '../sql/index.ts'
import { encodeValue, jsonReplacer, type TableColumn } from './columns.ts'
import { copyIn } from './copy.ts'
import { copyLine, type DbErrorFields, dbError, isDataError, PostgresError } from './errors.ts'
import { displayName, qualified, quoteIdent } from './identifiers.ts'
import type { PostgresSettings } from './options.ts'

export type Row = Readonly<Record<string, unknown>>

export interface Line {
  /** Position of the row in the batch. */
  readonly index: number
  readonly row: Row
}

export interface BadRow {
  readonly index: number
  readonly row: Row
  readonly error: DbErrorFields
}

/** The batch's rows as objects; for upsert the last row per key (one statement cannot update a row twice). */
export function linesOf(batch: OutputBatch<unknown>, settings: PostgresSettings): Line[] {
  const out: Line[] = new Array(batch.rows.length)
  for (let i = 0; i < batch.rows.length; i++) {
    const row = batch.rows[i]
    if (row === null || typeof row !== 'object' || Array.isArray(row))
      throw new UsageError(
        `postgres sink: rows must be objects (one field per column); batch ${batch.batchId} has ${row === null ? 'null' : typeof row} at index ${i}.`,
      )
    out[i] = { index: i, row: row as Row }
  }
  if (settings.mode !== 'upsert') return out
  const key = settings.key
  // One string key column (the common case) is its own map key; anything else goes through JSON, in a
  // map of its own so that a string can never be taken for the JSON of another key.
  const byString = new Map<string, number>()
  const byJson = new Map<string, number>()
  const single = key.length === 1 ? key[0]! : undefined
  for (let i = 0; i < out.length; i++) {
    const row = out[i]!.row
    const value = single === undefined ? undefined : row[single]
    if (typeof value === 'string') byString.set(value, i)
    else
      byJson.set(
        JSON.stringify(
          key.map((k) => row[k] ?? null),
          jsonReplacer,
        ),
        i,
      )
  }
  if (byString.size + byJson.size === out.length) return out
  return [...byString.values(), ...byJson.values()].sort((a, b) => a - b).map((i) => out[i]!)
}

/**
 * Writes the rows in one go, with COPY (append) or COPY into a staging table and one INSERT … ON CONFLICT
 * (upsert); when the table rejects some, isolates them inside the transaction with savepoints (the shared
 * strategy, src/connectors/sql/isolate.ts, guided by the COPY line the database names). The good rows stay
 * written, the bad ones are returned with the database's error; with onError 'fail' the first one throws.
 */
export async function writeRows(
  client: pg.ClientBase,
  lines: readonly Line[],
  columns: readonly TableColumn[],
  batchId: number,
  settings: PostgresSettings,
): Promise<BadRow[]> {
  const { table, mode, key, onError } = settings
  const names = columns.map((c) => quoteIdent(c.name)).join(', ')
  const encode = lineEncoder(columns)
  const send = (sql: string, chunk: readonly Line[]) =>
    copyIn(client, sql, chunk.length, (i) => encode(chunk[i]!.row))
  let write: (chunk: readonly Line[]) => Promise<void>
  if (mode === 'append') {
    const sql = `COPY ${qualified(table)} (${names}) FROM STDIN`
    write = async (chunk) => {
      await send(sql, chunk)
    }
  } else {
    // COPY into a staging table of the target's column types, then one INSERT … ON CONFLICT from it.
    const stage = 'pg_temp.sluice_upsert_stage'
    await client.query(
      `CREATE TEMP TABLE sluice_upsert_stage ON COMMIT DROP AS SELECT ${names} FROM ${qualified(table)} WITH NO DATA`,
    )
    const updates = columns
      .filter((c) => !key.includes(c.name))
      .map((c) => `${quoteIdent(c.name)} = EXCLUDED.${quoteIdent(c.name)}`)
    const insert =
      `INSERT INTO ${qualified(table)} (${names}) SELECT ${names} FROM ${stage} ` +
      `ON CONFLICT (${key.map(quoteIdent).join(', ')}) DO ${updates.length > 0 ? `UPDATE SET ${updates.join(', ')}` : 'NOTHING'}`
    const copy = `COPY ${stage} (${names}) FROM STDIN`
    write = async (chunk) => {
      await send(copy, chunk)
      await client.query(insert)
      await client.query(`TRUNCATE ${stage}`)
    }
  }
  const bad: BadRow[] = []
  await isolateRefused(
    lines,
    async (chunk) => {
      await client.query('SAVEPOINT sluice_rows')
      try {
        await write(chunk)
        await client.query('RELEASE SAVEPOINT sluice_rows')
        return undefined
      } catch (error) {
        if (!isDataError(error)) throw error
        await client.query('ROLLBACK TO SAVEPOINT sluice_rows')
        await client.query('RELEASE SAVEPOINT sluice_rows')
        // The rows before the named line were accepted by COPY up to there: they go on in one piece.
        return { error, at: copyLine(error) }
      }
    },
    (line, error) => {
      const fields = dbError(error)
      if (onError === 'fail') throw rowError(settings, line, batchId, fields)
      bad.push({ index: line.index, row: line.row, error: fields })
    },
  )
  return bad
}

function rowError(
  settings: PostgresSettings,
  line: Line,
  batchId: number,
  error: DbErrorFields,
): PostgresError {
  const detail = error.detail ? ` (${error.detail})` : ''
  const state = error.code ? ` [SQLSTATE ${error.code}]` : ''
  return new PostgresError(
    `postgres sink: table ${displayName(settings.table)} rejected the row at index ${line.index} of batch ${batchId}: ` +
      `${error.message}${detail}${state}. Nothing of the batch was written (onError: 'fail').`,
    { domain: 'user', retryable: false, ...(error.code ? { sqlState: error.code } : {}) },
  )
}

function lineEncoder(columns: readonly TableColumn[]): (row: Row) => string {
  const names = columns.map((c) => c.name)
  const json = columns.map((c) => c.typname === 'json' || c.typname === 'jsonb')
  return (row) => {
    let line = encodeValue(row[names[0]!], json[0]!)
    for (let c = 1; c < names.length; c++) line += '\t' + encodeValue(row[names[c]!], json[c]!)
    return line + '\n'
  }
}
