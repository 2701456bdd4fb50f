import { type DuckDBAppender, type DuckDBConnection, DuckDBDataChunk } from '@duckdb/node-api'
import { describeError, SluiceError } from '../../errors.ts'
import type { Positions } from '../../runtime/source.ts'
import { duckdbMessage, quoteIdentifier } from './database.ts'
import { appendDeadLetters } from './dead-letters.ts'
import { isolateRejected } from './isolate.ts'
import type { Column, TableLayouts } from './layout.ts'
import { storePosition } from './offsets.ts'
import type { DuckDBSettings } from './options.ts'
import { type Prepared, rejectedError } from './prepare.ts'
import { tableName } from './schema.ts'

const STAGE_TABLE = 'sluice_stage'
const CHUNK_ROWS = 2048
const CONFLICT_ATTEMPTS = 4

/** DuckDB refused the data (a constraint or a conversion), as opposed to failing itself. */
export class DataError extends Error {}

/**
 * A batch's DuckDB transaction: BEGIN, the DDL, the rows (the appender, or a stage and INSERT … SELECT for
 * upsert), the dead letters, the offsets row, COMMIT; retried on write-write conflicts with other writers of
 * the same database.
 */
export class BatchTransaction {
  readonly #settings: DuckDBSettings
  readonly #conn: DuckDBConnection
  readonly #layouts: TableLayouts
  readonly #pipelineId: string
  #inTransaction = false

  constructor(settings: DuckDBSettings, conn: DuckDBConnection, layouts: TableLayouts, pipelineId: string) {
    this.#settings = settings
    this.#conn = conn
    this.#layouts = layouts
    this.#pipelineId = pipelineId
  }

  get #target(): string {
    return tableName(this.#settings.schema, this.#settings.table)
  }

  async writeWithRetry<T>(prepared: Prepared<T>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#writeTransaction(prepared)
        return
      } catch (error) {
        await this.rollback()
        if (!isConflict(error) || attempt >= CONFLICT_ATTEMPTS) throw this.wrap(error)
        await sleep(20 * attempt)
      }
    }
  }

  async commitWithRetry<T>(prepared: Prepared<T>, next: Positions): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        if (!this.#inTransaction) await this.#writeTransaction(prepared)
        await storePosition(this.#conn, this.#pipelineId, prepared.batch.batchId, next)
        await this.#conn.run('COMMIT')
        this.#inTransaction = false
        return
      } catch (error) {
        await this.rollback()
        if (!isConflict(error) || attempt >= CONFLICT_ATTEMPTS) throw this.wrap(error)
        await sleep(20 * attempt)
      }
    }
  }

  /**
   * BEGIN, the DDL, the rows and the dead letters; the offsets row and COMMIT follow in commit(). When DuckDB
   * refuses rows (a constraint), the transaction is rolled back, the refused rows are found with throwaway
   * transactions, and the rest is written again with them as dead letters: a batch is never half-written.
   */
  async #writeTransaction<T>(prepared: Prepared<T>): Promise<void> {
    try {
      await this.#begin(prepared)
      await this.#appendRows(prepared, prepared.good)
    } catch (error) {
      if (!(error instanceof DataError)) throw error
      await this.rollback()
      const before = prepared.rejected.length
      await isolateRejected(prepared, (indexes) => this.#probe(prepared, indexes))
      if (this.#settings.onError === 'fail') {
        // Name the row DuckDB refuses; nothing is written.
        const first = prepared.rejected[before] ?? { row: undefined, reason: error.message }
        throw rejectedError(this.#settings, prepared.batch, first)
      }
      await this.#begin(prepared)
      await this.#appendRows(prepared, prepared.good)
    }
    await appendDeadLetters(this.#conn, prepared, this.#settings, this.#pipelineId)
  }

  async #begin<T>(prepared: Prepared<T>): Promise<void> {
    await this.#conn.run('BEGIN TRANSACTION')
    this.#inTransaction = true
    for (const statement of prepared.layout?.ddl ?? []) await this.#conn.run(statement)
  }

  async rollback(): Promise<void> {
    if (!this.#inTransaction) return
    this.#inTransaction = false
    this.#layouts.forget()
    await this.#conn.run('ROLLBACK')
  }

  /** Appends the rows at `indexes` (all in one go: the appender takes part in the open transaction). */
  async #appendRows<T>(prepared: Prepared<T>, indexes: readonly number[]): Promise<void> {
    const layout = prepared.layout
    if (!layout || indexes.length === 0) return
    const s = this.#settings
    const sources = new Map(layout.written.map((c, i) => [c.name, prepared.values[i]!]))
    let appender: DuckDBAppender
    let columns: readonly Column[]
    if (layout.direct) {
      appender = await this.#conn.createAppender(s.table, s.schema)
      columns = layout.columns
    } else {
      const list = layout.written.map((c) => quoteIdentifier(c.name)).join(', ')
      await this.#conn.run(
        `CREATE OR REPLACE TEMP TABLE ${quoteIdentifier(STAGE_TABLE)} AS SELECT ${list} FROM ${this.#target} LIMIT 0`,
      )
      appender = await this.#conn.createAppender(STAGE_TABLE, 'main', 'temp')
      columns = layout.written
    }
    try {
      if (appender.columnCount !== columns.length) {
        this.#layouts.forget()
        throw new Error(
          `internal: the table has ${appender.columnCount} columns, the sink expected ${columns.length}`,
        )
      }
      const types = columns.map((_, i) => appender.columnType(i))
      for (let start = 0; start < indexes.length; start += CHUNK_ROWS) {
        const n = Math.min(CHUNK_ROWS, indexes.length - start)
        const chunk = DuckDBDataChunk.create(types, n)
        for (let c = 0; c < columns.length; c++) {
          const vector = chunk.getColumnVector(c)
          const source = sources.get(columns[c]!.name)
          if (source) for (let j = 0; j < n; j++) vector.setItem(j, source[indexes[start + j]!] ?? null)
          else for (let j = 0; j < n; j++) vector.setItem(j, null)
          vector.flush()
        }
        appender.appendDataChunk(chunk)
      }
      appender.closeSync()
    } catch (error) {
      try {
        appender.closeSync()
      } catch {
        // the transaction is aborted already; the rollback that follows discards the appender's rows
      }
      throw asDataError(error)
    }
    if (!layout.direct) {
      const list = layout.written.map((c) => quoteIdentifier(c.name)).join(', ')
      let sql = `INSERT INTO ${this.#target} (${list}) SELECT ${list} FROM temp.main.${quoteIdentifier(STAGE_TABLE)}`
      if (s.mode === 'upsert') {
        const keys = s.keyColumns.map(quoteIdentifier).join(', ')
        const updates = layout.written
          .filter((c) => !s.keyColumns.includes(c.name))
          .map((c) => `${quoteIdentifier(c.name)} = excluded.${quoteIdentifier(c.name)}`)
        sql += ` ON CONFLICT (${keys}) ${updates.length > 0 ? `DO UPDATE SET ${updates.join(', ')}` : 'DO NOTHING'}`
      }
      try {
        await this.#conn.run(sql)
      } catch (error) {
        throw asDataError(error)
      }
    }
  }

  /**
   * Finds the rows DuckDB refuses, with throwaway transactions: halves of a failing set are tried on their
   * own down to single rows (row-level failures: NOT NULL, CHECK, a key already in the table); then rows that
   * only fail together (the same key twice in an append) are found as the shortest failing prefix.

  /** DuckDB's message when these rows cannot be written, in a transaction that is always rolled back. */
  async #probe<T>(prepared: Prepared<T>, indexes: readonly number[]): Promise<string | undefined> {
    try {
      await this.#begin(prepared)
      await this.#appendRows(prepared, indexes)
      return undefined
    } catch (error) {
      if (error instanceof DataError) return error.message
      throw error
    } finally {
      await this.rollback()
    }
  }

  wrap(error: unknown): unknown {
    return wrapError(this.#settings.location, error)
  }
}

/** DuckDB's failures as SluiceErrors: write conflicts and I/O errors are retryable. */
export function wrapError(location: string, error: unknown): unknown {
  if (error instanceof SluiceError) return error
  if (error instanceof DataError)
    return new SluiceError('SLUICE_DUCKDB', error.message, { domain: 'external' })
  const message = duckdbMessage(error)
  // "Current transaction is aborted": the connection's transaction state went bad under us (seen once in a
  // full test run, in the bad-row probes' createAppender); a restart from the checkpoint, with a new
  // connection, writes the batch again.
  const retryable =
    isConflict(error) || /^IO Error/.test(message) || /Current transaction is aborted/.test(message)
  return new SluiceError('SLUICE_DUCKDB', `DuckDB ${location}: ${message}`, {
    domain: 'external',
    retryable,
    cause: error,
  })
}

/** DuckDB refused the data (a constraint or a conversion), as opposed to failing itself. */
function asDataError(error: unknown): unknown {
  const message = duckdbMessage(error)
  if (/constraint|violates|Conversion Error|Invalid Input Error|Out of Range/i.test(message))
    return new DataError(message.replace(/^Failed to append: /, ''))
  return error
}

/** Another transaction changed the same rows or catalog entries first: writing again can succeed. */
function isConflict(error: unknown): boolean {
  const message = error instanceof Error ? duckdbMessage(error) : describeError(error)
  return /TransactionContext Error:.*conflict|write-write conflict/i.test(message)
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}
