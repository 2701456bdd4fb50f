import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api'
import { DuckDBTypeId } from '@duckdb/node-api'
import { SluiceError } from '../../errors.ts'
import type { OutputBatch } from '../../runtime/sink.ts'
import { jsonProblem, rowText } from '../sql/index.ts'
import {
  type Converted,
  castWithDuckDB,
  FractionRefused,
  fastConverter,
  textOf,
  UNCONVERTED,
} from './convert.ts'
import { quoteIdentifier } from './database.ts'
import type { Column, Layout, TableLayouts } from './layout.ts'
import type { DuckDBSettings } from './options.ts'

export interface Rejected {
  readonly row: unknown
  readonly reason: string
}

/** A batch converted and ready to write, kept until commit (a write conflict writes it again). */
export interface Prepared<T> {
  readonly batch: OutputBatch<T>
  readonly layout: Layout | undefined
  /** Per written column, the DuckDB value of every row (bad rows included, never appended). */
  readonly values: readonly (readonly DuckDBValue[])[]
  /** Indexes of the rows to append. */
  good: number[]
  readonly rejected: Rejected[]
}

/**
 * Converts a batch's rows to DuckDB values column by column, the common cases in JavaScript and the rest
 * cast by DuckDB itself; rows with a value that does not convert, or a null in a NOT NULL column, are
 * rejected here with the reason, before any transaction.
 */
export async function prepareBatch<T>(
  batch: OutputBatch<T>,
  settings: DuckDBSettings,
  layouts: TableLayouts,
  conn: DuckDBConnection,
): Promise<Prepared<T>> {
  const s = settings
  if (batch.rows.length === 0) return { batch, layout: undefined, values: [], good: [], rejected: [] }
  const { layout, records: rows, refused } = await layouts.screen(batch.rows)
  const reasons = new Map<number, string>(refused)
  const values: DuckDBValue[][] = []
  for (const column of layout?.written ?? []) {
    const convert = fastConverter(column.type, column.sqlType)
    const text = column.type.typeId === DuckDBTypeId.VARCHAR && column.sqlType !== 'JSON'
    const name = column.name
    const out: DuckDBValue[] = new Array(rows.length)
    const slow: number[] = []
    for (let i = 0; i < rows.length; i++) {
      const v = rows[i]![name]
      if (v === null || v === undefined || refused.has(i)) {
        out[i] = null
        continue
      }
      if (text && typeof v === 'string') {
        out[i] = v
        continue
      }
      let converted: Converted
      try {
        converted = convert(v)
      } catch (error) {
        out[i] = null
        if (!reasons.has(i)) reasons.set(i, valueProblem(settings, column, layout!, error))
        continue
      }
      if (converted === UNCONVERTED) slow.push(i)
      else out[i] = converted
    }
    const castable: number[] = []
    const texts: string[] = []
    for (const i of slow) {
      try {
        texts.push(textOf(rows[i]?.[column.name]))
        castable.push(i)
      } catch (error) {
        out[i] = null
        if (!reasons.has(i)) reasons.set(i, `column ${quoteIdentifier(column.name)}: ${jsonProblem(error)}`)
      }
    }
    if (castable.length > 0) {
      const cast = await castWithDuckDB(conn, column.sqlType, texts)
      castable.forEach((rowIndex, k) => {
        const result = cast[k]
        if (result && 'value' in result) out[rowIndex] = result.value
        else {
          out[rowIndex] = null
          if (!reasons.has(rowIndex))
            reasons.set(rowIndex, `column ${quoteIdentifier(column.name)}: ${result?.error ?? 'no value'}`)
        }
      })
    }
    const notNull = !column.nullable || s.keyColumns.includes(column.name)
    if (notNull) {
      for (let i = 0; i < rows.length; i++) {
        if (out[i] === null && !reasons.has(i))
          reasons.set(i, `NOT NULL constraint failed: ${s.table}.${column.name}`)
      }
    }
    values.push(out)
  }
  let good: number[] = []
  const rejected: Rejected[] = []
  for (let i = 0; i < rows.length; i++) {
    const reason = reasons.get(i)
    if (reason === undefined) good.push(i)
    else rejected.push({ row: batch.rows[i], reason })
  }
  if (s.mode === 'upsert' && layout) good = lastPerKey(good, layout.written, values, s.keyColumns)
  if (rejected.length > 0 && s.onError === 'fail') throw rejectedError(settings, batch, rejected[0]!)
  return { batch, layout, values, good, rejected }
}

/** Why a value could not be converted: a fraction for an integer column, or JSON that cannot be written. */
function valueProblem(settings: DuckDBSettings, column: Column, layout: Layout, error: unknown): string {
  const name = quoteIdentifier(column.name)
  if (error instanceof FractionRefused)
    return (
      `column ${name} of ${settings.schema}.${settings.table} is ${column.sqlType}, and ${error.message}; ` +
      (layout.narrow.get(column.name) ?? 'widen it to DOUBLE')
    )
  return `column ${name}: ${jsonProblem(error)}`
}

export function rejectedError(
  settings: DuckDBSettings,
  batch: OutputBatch<unknown>,
  rejected: Rejected,
): SluiceError {
  const row = rejected.row === undefined ? '' : ` Row: ${rowText(rejected.row, 300)}.`
  return new SluiceError(
    'SLUICE_DUCKDB_ROW_REFUSED',
    `DuckDB sink ${settings.schema}.${settings.table}: DuckDB refused a row of batch ${batch.batchId} (${rejected.reason}); ` +
      `onError is 'fail', so nothing of the batch was written.${row}`,
    { domain: 'user' },
  )
}

/** Upsert: of rows with the same key, the last one wins (as if each were written in turn). */
function lastPerKey(
  good: readonly number[],
  written: readonly Column[],
  values: readonly (readonly DuckDBValue[])[],
  keyColumns: readonly string[],
): number[] {
  const keyIndexes = keyColumns.map((k) => written.findIndex((c) => c.name === k))
  const last = new Map<string, number>()
  for (const i of good) {
    let key = ''
    for (const c of keyIndexes) {
      const v = values[c]?.[i] ?? null
      key += `${typeof v}:${v === null ? '' : String(v)}\u0000`
    }
    last.set(key, i)
  }
  return [...last.values()].sort((a, b) => a - b)
}
