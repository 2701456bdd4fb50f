import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api'
import type {
  CommittedPosition,
  DeadLetter,
  OutputBatch,
  SinkCommitContext,
  SinkContract,
  SinkOpenContext,
  SinkWriter,
} from '../../runtime/sink.ts'
import type { Positions } from '../../runtime/source.ts'
import { SQL_SINK_CONTRACT } from '../sql/contract.ts'
import { committedPosition, type StoredPosition, samePositions, sinkDeadLetter } from '../sql/index.ts'
import { acquireDatabase, quoteIdentifier, type SharedDatabase } from './database.ts'
import { checkDeadLetterTable, deadLetterTableSql, keyText } from './dead-letters.ts'
import { TableLayouts } from './layout.ts'
import { lineageError, offsetsTableSql, readStored } from './offsets.ts'
import type { DuckDBSettings } from './options.ts'
import { type Prepared, prepareBatch } from './prepare.ts'
import { BatchTransaction, wrapError } from './transaction.ts'

type Pending<T> = { readonly skip: true; readonly batch: OutputBatch<T> } | Prepared<T>

/** Set at open(). */
interface Opened {
  readonly db: SharedDatabase
  readonly conn: DuckDBConnection
  readonly layouts: TableLayouts
  readonly tx: BatchTransaction
}

/**
 * Exactly-once into DuckDB: each batch's rows, its dead letters and the pipeline's position (a row of
 * `sluice_offsets`) commit in one DuckDB transaction. Writers of one database file take turns through its
 * lock, held from write() to commit() or abort().
 */
export class DuckDBSinkWriter<T> implements SinkWriter<T> {
  readonly description: string
  readonly #settings: DuckDBSettings
  readonly #onOpen: (db: SharedDatabase) => Promise<void>
  #opened: Opened | undefined
  #pipelineId = ''
  #committed: StoredPosition | undefined
  #pending: Pending<T> | undefined
  /** The last batch written: its rows the sink or DuckDB refused (`rejected` is complete after write()). */
  #refused: Prepared<T> | undefined
  #unlock: (() => void) | undefined

  constructor(settings: DuckDBSettings, onOpen: (db: SharedDatabase) => Promise<void>) {
    this.#settings = settings
    this.#onOpen = onOpen
    this.description = `duckdb ${settings.location} ${settings.schema}.${settings.table}`
  }

  get #open(): Opened {
    if (!this.#opened) throw new Error('internal: the DuckDB sink is not open')
    return this.#opened
  }

  async open(context: SinkOpenContext): Promise<SinkContract> {
    const s = this.#settings
    this.#pipelineId = context.pipelineId
    const db = await acquireDatabase(s.key, s.location)
    const conn = await db.connect()
    const layouts = new TableLayouts(s, conn)
    layouts.rowType = context.rowType
    this.#opened = { db, conn, layouts, tx: new BatchTransaction(s, conn, layouts, this.#pipelineId) }
    await this.#onOpen(db)
    const unlock = await db.lock.lock()
    try {
      if (s.schema !== 'main') await this.#exec(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(s.schema)}`)
      await this.#exec(offsetsTableSql)
      await this.#exec(deadLetterTableSql(s))
      await checkDeadLetterTable(conn, s)
      if (s.columns) await layouts.checkDeclaredColumns(s.columns)
      this.#committed = await readStored(conn, this.#pipelineId)
    } finally {
      unlock()
    }
    return SQL_SINK_CONTRACT
  }

  async write(batch: OutputBatch<T>): Promise<void> {
    if (this.#unlock) await this.abort() // a write without commit or abort before it: discard it
    const { db, conn, layouts, tx } = this.#open
    this.#unlock = await db.lock.lock()
    const committed = this.#committed
    if (committed && batch.batchId <= committed.batchId) {
      if (batch.batchId < committed.batchId) throw this.#lineageError(committed.batchId, batch.batchId)
      // The batch committed before a crash and the runtime replays it: write nothing, only acknowledge.
      this.#pending = { skip: true, batch }
      return
    }
    const prepared = await prepareBatch(batch, this.#settings, layouts, conn)
    this.#pending = prepared
    this.#refused = prepared
    await tx.writeWithRetry(prepared)
  }

  async commit(batch: OutputBatch<T>, context: SinkCommitContext): Promise<void> {
    const pending = this.#pending
    try {
      if (!pending || pending.batch !== batch) throw new Error('internal: commit without write')
      if ('skip' in pending) {
        const stored = this.#committed
        if (stored && !samePositions(stored.positions, context.next))
          throw this.#lineageError(stored.batchId, batch.batchId)
      } else {
        await this.#open.tx.commitWithRetry(pending, context.next)
        this.#committed = { batchId: batch.batchId, positions: context.next }
        if (pending.layout && pending.layout.ddl.length > 0) this.#open.layouts.forget()
      }
    } finally {
      this.#pending = undefined
      this.#release()
    }
  }

  async abort(): Promise<void> {
    this.#pending = undefined
    try {
      await this.#opened?.tx.rollback()
    } finally {
      this.#release()
    }
  }

  rejected(batch: OutputBatch<T>): readonly DeadLetter[] {
    const refused = this.#refused
    if (refused?.batch !== batch) return []
    return refused.rejected.map((r) =>
      sinkDeadLetter('sink', r.reason, r.row, keyText(r.row, this.#settings.keyColumns)),
    )
  }

  async hasCommitted(batch: { readonly batchId: number; readonly end: Positions }): Promise<boolean> {
    const stored = await readStored(this.#open.conn, this.#pipelineId)
    this.#committed = stored
    if (!stored || stored.batchId < batch.batchId) return false
    if (stored.batchId > batch.batchId || !samePositions(stored.positions, batch.end))
      throw this.#lineageError(stored.batchId, batch.batchId)
    return true
  }

  async committedPosition(): Promise<CommittedPosition | undefined> {
    const stored = await readStored(this.#open.conn, this.#pipelineId)
    this.#committed = stored
    return committedPosition(stored)
  }

  async close(): Promise<void> {
    const opened = this.#opened
    try {
      await opened?.tx.rollback().catch(() => {})
    } finally {
      this.#pending = undefined
      this.#release()
      this.#opened = undefined
      opened?.conn.closeSync()
      opened?.db.release()
    }
  }

  #release(): void {
    const unlock = this.#unlock
    this.#unlock = undefined
    unlock?.()
  }

  async #exec(sql: string, parameters?: DuckDBValue[]): Promise<void> {
    try {
      await this.#open.conn.run(sql, parameters)
    } catch (error) {
      throw wrapError(this.#settings.location, error)
    }
  }

  #lineageError(stored: number, batchId: number) {
    return lineageError(this.#settings.location, this.#pipelineId, stored, batchId)
  }
}
