import type pg from 'pg'
import type { OutputBatch } from '../../runtime/sink.ts'
import { isolateRefused, jsonProblem, notARow, rowText, showName } from '../sql/index.ts'
import { encodeValue, type TableColumn } from './columns.ts'
import { copyIn, RowEncodeError } from './copy.ts'
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
  /** The row as the pipeline delivered it (not always an object). */
  readonly row: unknown
  readonly error: DbErrorFields
}

/** A row the sink refuses itself (not the database), with the reason. */
export function sinkRefusal(line: Line, reason: string): BadRow {
  return {
    index: line.index,
    row: line.row,
    error: { code: undefined, message: reason, detail: undefined, where: undefined },
  }
}

/** The batch's rows that are objects (one field per column); the others are refused with the reason. */
export function linesOf(batch: OutputBatch<unknown>): { lines: Line[]; bad: BadRow[] } {
  const lines: Line[] = []
  const bad: BadRow[] = []
  for (let i = 0; i < batch.rows.length; i++) {
    const row = batch.rows[i]
    const problem = notARow(row)
    if (problem === undefined) lines.push({ index: i, row: row as Row })
    else bad.push({ ...sinkRefusal({ index: i, row: {} }, problem), row })
  }
  return { lines, bad }
}

/** Upsert: the last row per key (one statement cannot update a row twice). */
export function lastPerKey(lines: readonly Line[], key: readonly string[]): readonly Line[] {
  // One string key column (the common case) is its own map key; anything else goes through JSON, in a
  // map of its own so that a string can never be taken for the JSON of another key.
  const byString = new Map<string, number>()
  const byJson = new Map<string, number>()
  const single = key.length === 1 ? key[0]! : undefined
  for (let i = 0; i < lines.length; i++) {
    const row = lines[i]!.row
    const value = single === undefined ? undefined : row[single]
    if (typeof value === 'string') byString.set(value, i)
    else byJson.set(rowText(key.map((k) => row[k] ?? null)), i)
  }
  if (byString.size + byJson.size === lines.length) return lines
  return [...byString.values(), ...byJson.values()].sort((a, b) => a - b).map((i) => lines[i]!)
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
        const encoding = error instanceof RowEncodeError
        if (!encoding && !isDataError(error)) throw error
        await client.query('ROLLBACK TO SAVEPOINT sluice_rows')
        await client.query('RELEASE SAVEPOINT sluice_rows')
        // The rows before the named line were accepted by COPY up to there: they go on in one piece.
        return { error, at: encoding ? error.line : copyLine(error) }
      }
    },
    (line, error) => {
      const fields = dbError(error)
      if (onError === 'fail') throw rowError(settings, { index: line.index, error: fields }, batchId)
      bad.push({ index: line.index, row: line.row, error: fields })
    },
  )
  return bad
}

export function rowError(
  settings: PostgresSettings,
  line: { readonly index: number; readonly error: DbErrorFields },
  batchId: number,
  error: DbErrorFields = line.error,
): PostgresError {
  const detail = error.detail ? ` (${error.detail})` : ''
  const state = error.code ? ` [SQLSTATE ${error.code}]` : ''
  return new PostgresError(
    `postgres sink: table ${displayName(settings.table)} rejected the row at index ${line.index} of batch ${batchId}: ` +
      `${error.message}${detail}${state}. Nothing of the batch was written (onError: 'fail').`,
    { domain: 'user', retryable: false, ...(error.code ? { sqlState: error.code } : {}) },
  )
}

/** A row as a COPY line; a value it cannot encode (nested too deeply for JSON, circular) throws the reason. */
function lineEncoder(columns: readonly TableColumn[]): (row: Row) => string {
  const names = columns.map((c) => c.name)
  const json = columns.map((c) => c.typname === 'json' || c.typname === 'jsonb')
  const encode = (row: Row, c: number) => {
    try {
      return encodeValue(row[names[c]!], json[c]!)
    } catch (error) {
      throw new Error(`field ${showName(names[c]!)}: ${jsonProblem(error)}`)
    }
  }
  return (row) => {
    let line = encode(row, 0)
    for (let c = 1; c < names.length; c++) line += '\t' + encode(row, c)
    return line + '\n'
  }
}
