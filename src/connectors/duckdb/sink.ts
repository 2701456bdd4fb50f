import {
  type DuckDBAppender,
  type DuckDBConnection,
  DuckDBDataChunk,
  DuckDBTimestampTZValue,
  type DuckDBType,
  DuckDBTypeId,
  type DuckDBValue,
} from '@duckdb/node-api'
import { describeError, SluiceError, UsageError } from '../../errors.ts'
import type {
  DeadLetter,
  OutputBatch,
  SinkCommitContext,
  SinkOpenContext,
  SinkSpec,
  SinkWriter,
} from '../../runtime/sink.ts'
import type { Positions } from '../../runtime/source.ts'
import { castWithDuckDB, fastConverter, jsonText, textOf, UNCONVERTED } from './convert.ts'
import {
  acquireDatabase,
  databaseKey,
  duckdbMessage,
  isMemoryLocation,
  quoteIdentifier,
  type SharedDatabase,
} from './database.ts'
import {
  accepts,
  describeKinds,
  describeTable,
  inferSqlType,
  type Kind,
  kindOf,
  type TableDescription,
  tableName,
} from './schema.ts'

export interface DuckDBSinkOptions<T> {
  /** A database file (created with its directory when missing), ':memory:', or ':memory:<name>' to share one. */
  readonly path: string
  readonly table: string
  /** Default 'main'. */
  readonly schema?: string
  /** 'append' (default) adds every row; 'upsert' inserts or updates by `key`. */
  readonly mode?: 'append' | 'upsert'
  /** Upsert key: the columns of the table's PRIMARY KEY (or a UNIQUE constraint) that identify a row. */
  readonly key?: readonly (keyof T & string)[]
  /**
   * Columns and their DuckDB types, e.g. `{ page: 'VARCHAR', views: 'BIGINT' }`: only these fields are written.
   * Without it the columns are inferred from the rows, and new fields become new columns.
   */
  readonly columns?: Readonly<Record<string, string>>
  /** Create the table (and evolve it as rows gain fields) when missing. Default true. */
  readonly createTable?: boolean
  /**
   * A row DuckDB refuses (NOT NULL, a failed conversion, a constraint): 'dead-letter' (default) writes it to the
   * dead-letter table with DuckDB's message and commits the rest; 'fail' stops the pipeline, writing nothing.
   */
  readonly onError?: 'dead-letter' | 'fail'
  /** Where the pipeline's dead letters and refused rows go, in the same transaction. Default 'sluice_dead_letters'. */
  readonly deadLetterTable?: string
}

export type DuckDBQueryParameter = string | number | bigint | boolean | null

/** A DuckDB sink spec, which can also query the database it writes. */
export interface DuckDBSink<T> extends SinkSpec<T> {
  /**
   * Runs SQL on the sink's database (its own connection: it sees committed data) and returns the rows as JS
   * values (BIGINT as bigint, timestamps as Date, JSON as text).
   */
  query(sql: string, parameters?: readonly DuckDBQueryParameter[]): Promise<Record<string, unknown>[]>
  /** Lets go of an in-memory database kept for query() after the pipeline stopped. */
  close(): Promise<void>
}

const OFFSETS_TABLE = 'sluice_offsets'
const STAGE_TABLE = 'sluice_stage'
const CHUNK_ROWS = 2048
const CONFLICT_ATTEMPTS = 4

interface Settings {
  readonly location: string
  readonly key: string
  readonly schema: string
  readonly table: string
  readonly mode: 'append' | 'upsert'
  readonly keyColumns: readonly string[]
  readonly columns: Readonly<Record<string, string>> | undefined
  readonly createTable: boolean
  readonly onError: 'dead-letter' | 'fail'
  readonly deadLetterTable: string
  /** The sink may create the table and add or widen its columns. */
  readonly managed: boolean
}

/** A column as the next transaction leaves the table. */
interface Column {
  readonly name: string
  readonly sqlType: string
  readonly type: DuckDBType
  readonly nullable: boolean
  readonly hasDefault: boolean
}

/** How a batch's rows go into the table. */
interface Layout {
  /** Statements run first in the transaction: CREATE TABLE, ALTER TABLE. */
  readonly ddl: readonly string[]
  /** The table's columns after the DDL, in table order. */
  readonly columns: readonly Column[]
  /** The columns the rows fill. */
  readonly written: readonly Column[]
  /** Straight into the table with the appender; otherwise into a temporary stage, then INSERT … SELECT. */
  readonly direct: boolean
}

interface Rejected {
  readonly row: unknown
  readonly reason: string
}

/** A batch converted and ready to write, kept until commit (a write conflict writes it again). */
interface Prepared<T> {
  readonly batch: OutputBatch<T>
  readonly layout: Layout | undefined
  /** Per written column, the DuckDB value of every row (bad rows included, never appended). */
  readonly values: readonly (readonly DuckDBValue[])[]
  /** Indexes of the rows to append. */
  good: number[]
  readonly rejected: Rejected[]
}

type Pending<T> = { readonly skip: true; readonly batch: OutputBatch<T> } | Prepared<T>

class DataError extends Error {}

class DuckDBSinkWriter<T> implements SinkWriter<T> {
  readonly description: string
  readonly guarantee = 'exactly-once' as const
  readonly #settings: Settings
  readonly #onOpen: (db: SharedDatabase) => Promise<void>
  #db: SharedDatabase | undefined
  #connection: DuckDBConnection | undefined
  #pipelineId = ''
  #committed: { readonly batchId: number; readonly positions: Positions } | undefined
  /** What DuckDB has for the table; undefined: ask again (also after every rollback, which may undo DDL). */
  #described: TableDescription | null | undefined
  /** Columns already checked against the rows' kinds for the current description. */
  #checked = new Set<string>()
  #types = new Map<string, DuckDBType>()
  /** `columns` with each type as DuckDB names it (TIMESTAMPTZ → TIMESTAMP WITH TIME ZONE, json → JSON). */
  #declared = new Map<string, string>()
  #pending: Pending<T> | undefined
  #inTransaction = false
  #unlock: (() => void) | undefined

  constructor(settings: Settings, onOpen: (db: SharedDatabase) => Promise<void>) {
    this.#settings = settings
    this.#onOpen = onOpen
    this.description = `duckdb ${settings.location} ${settings.schema}.${settings.table}`
  }

  get #conn(): DuckDBConnection {
    if (!this.#connection) throw new Error('internal: the DuckDB sink is not open')
    return this.#connection
  }

  get #target(): string {
    return tableName(this.#settings.schema, this.#settings.table)
  }

  async open(context: SinkOpenContext): Promise<void> {
    const s = this.#settings
    this.#pipelineId = context.pipelineId
    const db = await acquireDatabase(s.key, s.location)
    this.#db = db
    this.#connection = await db.connect()
    await this.#onOpen(db)
    const unlock = await db.lock.lock()
    try {
      if (s.schema !== 'main') await this.#exec(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(s.schema)}`)
      await this.#exec(
        `CREATE TABLE IF NOT EXISTS ${quoteIdentifier(OFFSETS_TABLE)} (
           pipeline_id VARCHAR PRIMARY KEY, batch_id BIGINT NOT NULL, positions JSON NOT NULL,
           updated_at TIMESTAMP WITH TIME ZONE NOT NULL)`,
      )
      await this.#exec(
        `CREATE TABLE IF NOT EXISTS ${tableName(s.schema, s.deadLetterTable)} (
           pipeline_id VARCHAR NOT NULL, batch_id BIGINT NOT NULL, target_table VARCHAR NOT NULL,
           operator VARCHAR NOT NULL, reason VARCHAR NOT NULL, source_partition VARCHAR, source_offset BIGINT,
           key VARCHAR, raw VARCHAR, raw_encoding VARCHAR, event_time TIMESTAMP WITH TIME ZONE,
           dead_lettered_at TIMESTAMP WITH TIME ZONE NOT NULL)`,
      )
      await this.#checkDeadLetterTable()
      if (s.columns) await this.#checkDeclaredColumns(s.columns)
      const stored = await this.#storedOffsets()
      this.#committed = stored
    } finally {
      unlock()
    }
  }

  async write(batch: OutputBatch<T>): Promise<void> {
    if (this.#unlock) await this.abort() // a write without commit or abort before it: discard it
    this.#unlock = await this.#db!.lock.lock()
    const committed = this.#committed
    if (committed && batch.batchId <= committed.batchId) {
      if (batch.batchId < committed.batchId) throw this.#lineageError(committed.batchId, batch.batchId)
      // The batch committed before a crash and the runtime replays it: write nothing, only acknowledge.
      this.#pending = { skip: true, batch }
      return
    }
    const prepared = await this.#prepare(batch)
    this.#pending = prepared
    await this.#writeWithRetry(prepared)
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
        await this.#commitWithRetry(pending, context.next)
        this.#committed = { batchId: batch.batchId, positions: context.next }
        if (pending.layout && pending.layout.ddl.length > 0) this.#forgetTable()
      }
    } finally {
      this.#pending = undefined
      this.#release()
    }
    await context.source.acknowledge?.(context.next, context.records)
  }

  async abort(): Promise<void> {
    this.#pending = undefined
    try {
      await this.#rollback()
    } finally {
      this.#release()
    }
  }

  async hasCommitted(batch: { readonly batchId: number; readonly end: Positions }): Promise<boolean> {
    const stored = await this.#storedOffsets()
    this.#committed = stored
    if (!stored || stored.batchId < batch.batchId) return false
    if (stored.batchId > batch.batchId || !samePositions(stored.positions, batch.end))
      throw this.#lineageError(stored.batchId, batch.batchId)
    return true
  }

  async close(): Promise<void> {
    try {
      await this.#rollback().catch(() => {})
    } finally {
      this.#pending = undefined
      this.#release()
      this.#connection?.closeSync()
      this.#connection = undefined
      this.#db?.release()
      this.#db = undefined
    }
  }

  #release(): void {
    const unlock = this.#unlock
    this.#unlock = undefined
    unlock?.()
  }

  // ---------------------------------------------------------------- preparing a batch

  async #prepare(batch: OutputBatch<T>): Promise<Prepared<T>> {
    const s = this.#settings
    const rows = batch.rows.map(asRecord)
    if (rows.length === 0) return { batch, layout: undefined, values: [], good: [], rejected: [] }
    const layout = await this.#layout(rows)
    const values: DuckDBValue[][] = []
    const reasons = new Map<number, string>()
    for (const column of layout.written) {
      const convert = fastConverter(column.type, column.sqlType)
      const text = column.type.typeId === DuckDBTypeId.VARCHAR && column.sqlType !== 'JSON'
      const name = column.name
      const out: DuckDBValue[] = new Array(rows.length)
      const slow: number[] = []
      for (let i = 0; i < rows.length; i++) {
        const v = rows[i]![name]
        if (v === null || v === undefined) {
          out[i] = null
          continue
        }
        if (text && typeof v === 'string') {
          out[i] = v
          continue
        }
        const converted = convert(v)
        if (converted === UNCONVERTED) slow.push(i)
        else out[i] = converted
      }
      if (slow.length > 0) {
        const cast = await castWithDuckDB(
          this.#conn,
          column.sqlType,
          slow.map((i) => textOf(rows[i]?.[column.name])),
        )
        slow.forEach((rowIndex, k) => {
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
    if (s.mode === 'upsert') good = lastPerKey(good, layout.written, values, s.keyColumns)
    if (rejected.length > 0 && s.onError === 'fail') throw this.#rejectedError(batch, rejected[0]!)
    return { batch, layout, values, good, rejected }
  }

  /** Works out the columns, the DDL the rows need and whether they fit; mismatches are a UsageError. */
  async #layout(rows: readonly Readonly<Record<string, unknown>>[]): Promise<Layout> {
    const s = this.#settings
    if (this.#described === undefined) {
      this.#described = (await describeTable(this.#conn, s.schema, s.table)) ?? null
      this.#checked = new Set()
    }
    const described = this.#described
    // Fields holding a value in some row, in the order fields first appear (null or not): the column order.
    const seen = new Set<string>()
    const valued = new Set<string>()
    for (const row of rows) {
      for (const k in row) {
        seen.add(k)
        if (row[k] !== null && row[k] !== undefined) valued.add(k)
      }
    }
    const present = new Set([...seen].filter((k) => valued.has(k)))

    if (!described) {
      if (!s.createTable)
        throw new UsageError(
          `DuckDB sink: table ${s.schema}.${s.table} does not exist in ${s.location} (createTable is false).`,
        )
      const columns: Column[] = []
      if (s.columns) {
        for (const name of Object.keys(s.columns))
          columns.push(await this.#column(name, this.#declared.get(name) ?? s.columns[name]!))
      } else {
        const names = [...s.keyColumns, ...[...present].filter((n) => !s.keyColumns.includes(n))]
        for (const name of names) columns.push(await this.#column(name, inferSqlType(kindsOf(rows, name))))
      }
      if (columns.length === 0)
        throw new UsageError(
          `DuckDB sink: cannot create table ${s.schema}.${s.table}: the rows have no field with a value.`,
        )
      const keys =
        s.keyColumns.length > 0 ? `, PRIMARY KEY (${s.keyColumns.map(quoteIdentifier).join(', ')})` : ''
      const ddl = `CREATE TABLE IF NOT EXISTS ${this.#target} (${columns
        .map((c) => `${quoteIdentifier(c.name)} ${c.sqlType}`)
        .join(', ')}${keys})`
      return { ddl: [ddl], columns, written: columns, direct: s.mode === 'append' }
    }

    const mismatches: string[] = []
    const ddl: string[] = []
    const columns: Column[] = described.columns.map((c) => ({ ...c }))
    const byName = new Map(columns.map((c, i) => [c.name, i]))
    const wanted = s.columns ? Object.keys(s.columns) : [...present]
    for (const name of wanted) {
      const index = byName.get(name)
      if (index === undefined) {
        if (s.columns) continue // reported by #checkDeclaredColumns at open
        if (!s.managed) {
          mismatches.push(
            `the rows have a field "${name}" the table lacks (add the column, list the wanted columns in ` +
              '`columns`, or let the sink manage the table with createTable: true)',
          )
          continue
        }
        const column = await this.#column(name, inferSqlType(kindsOf(rows, name)))
        ddl.push(`ALTER TABLE ${this.#target} ADD COLUMN ${quoteIdentifier(name)} ${column.sqlType}`)
        byName.set(name, columns.length)
        columns.push(column)
        continue
      }
      const column = columns[index]!
      if (s.columns) continue
      if (
        s.managed &&
        column.sqlType === 'BIGINT' &&
        !s.keyColumns.includes(name) &&
        rows.some((r) => typeof r[name] === 'number' && !Number.isInteger(r[name]))
      ) {
        // A sum that was whole so far: widen instead of rounding.
        ddl.push(`ALTER TABLE ${this.#target} ALTER COLUMN ${quoteIdentifier(name)} TYPE DOUBLE`)
        columns[index] = await this.#column(name, 'DOUBLE', column)
        continue
      }
      if (this.#checked.has(name)) continue
      // A column none of whose values can fit is a mismatch; single values that do not fit are bad rows.
      const kinds = kindsOf(rows, name)
      if (kinds.size > 0 && [...kinds].every((k) => !accepts(column, k)))
        mismatches.push(`column "${name}" is ${column.sqlType} but the rows hold ${describeKinds(kinds)}`)
      else this.#checked.add(name)
    }
    const written = columns.filter((c) => (s.columns ? c.name in s.columns : present.has(c.name)))
    const writtenNames = new Set(written.map((c) => c.name))
    for (const c of columns) {
      if (!writtenNames.has(c.name) && !c.nullable && !c.hasDefault && !s.keyColumns.includes(c.name))
        mismatches.push(
          `column "${c.name}" is NOT NULL without a default, but the rows have no field "${c.name}"`,
        )
    }
    for (const k of s.keyColumns)
      if (!byName.has(k)) mismatches.push(`the upsert key column "${k}" is missing`)
    if (s.mode === 'upsert') {
      const wantedKey = [...s.keyColumns].sort().join('\u0000')
      if (!described.uniqueKeys.some((u) => [...u].sort().join('\u0000') === wantedKey))
        mismatches.push(
          `upsert needs a PRIMARY KEY or UNIQUE constraint on (${s.keyColumns.join(', ')}); the table has none`,
        )
    }
    if (mismatches.length > 0) {
      this.#described = undefined
      throw new UsageError(
        `DuckDB sink: table ${s.schema}.${s.table} in ${s.location} does not fit the rows:\n- ${mismatches.join('\n- ')}`,
      )
    }
    for (const k of s.keyColumns) {
      if (!writtenNames.has(k)) {
        const c = columns[byName.get(k)!]!
        written.push(c)
        writtenNames.add(k)
      }
    }
    const direct =
      s.mode === 'append' && columns.every((c) => writtenNames.has(c.name) || (c.nullable && !c.hasDefault))
    // Written columns in table order (the stage and INSERT list follow it).
    const ordered = columns.filter((c) => writtenNames.has(c.name))
    return { ddl, columns, written: ordered, direct }
  }

  async #column(name: string, sqlType: string, base?: Column): Promise<Column> {
    return {
      name,
      sqlType,
      type: await this.#typeOf(sqlType),
      nullable: base?.nullable ?? !this.#settings.keyColumns.includes(name),
      hasDefault: base?.hasDefault ?? false,
    }
  }

  async #typeOf(sqlType: string): Promise<DuckDBType> {
    let type = this.#types.get(sqlType)
    if (!type) {
      const reader = await this.#conn.runAndReadAll(`SELECT CAST(NULL AS ${sqlType}) AS v LIMIT 0`)
      type = reader.columnTypes()[0]
      if (!type) throw new Error(`internal: no type for ${sqlType}`)
      this.#types.set(sqlType, type)
    }
    return type
  }

  // ---------------------------------------------------------------- the transaction

  async #writeWithRetry(prepared: Prepared<T>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#writeTransaction(prepared)
        return
      } catch (error) {
        await this.#rollback()
        if (!isConflict(error) || attempt >= CONFLICT_ATTEMPTS) throw this.#wrap(error)
        await sleep(20 * attempt)
      }
    }
  }

  async #commitWithRetry(prepared: Prepared<T>, next: Positions): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        if (!this.#inTransaction) await this.#writeTransaction(prepared)
        await this.#conn.run(
          `INSERT INTO ${quoteIdentifier(OFFSETS_TABLE)} (pipeline_id, batch_id, positions, updated_at)
           VALUES ($1, $2, $3, now())
           ON CONFLICT (pipeline_id) DO UPDATE
             SET batch_id = excluded.batch_id, positions = excluded.positions, updated_at = excluded.updated_at`,
          [this.#pipelineId, BigInt(prepared.batch.batchId), JSON.stringify(next)],
        )
        await this.#conn.run('COMMIT')
        this.#inTransaction = false
        return
      } catch (error) {
        await this.#rollback()
        if (!isConflict(error) || attempt >= CONFLICT_ATTEMPTS) throw this.#wrap(error)
        await sleep(20 * attempt)
      }
    }
  }

  /**
   * BEGIN, the DDL, the rows and the dead letters; the offsets row and COMMIT follow in commit(). When DuckDB
   * refuses rows (a constraint), the transaction is rolled back, the refused rows are found with throwaway
   * transactions, and the rest is written again with them as dead letters: a batch is never half-written.
   */
  async #writeTransaction(prepared: Prepared<T>): Promise<void> {
    try {
      await this.#begin(prepared)
      await this.#appendRows(prepared, prepared.good)
    } catch (error) {
      if (!(error instanceof DataError)) throw error
      await this.#rollback()
      const before = prepared.rejected.length
      await this.#isolate(prepared)
      if (this.#settings.onError === 'fail') {
        // Name the row DuckDB refuses; nothing is written.
        const first = prepared.rejected[before] ?? { row: undefined, reason: error.message }
        throw this.#rejectedError(prepared.batch, first)
      }
      await this.#begin(prepared)
      await this.#appendRows(prepared, prepared.good)
    }
    await this.#appendDeadLetters(prepared)
  }

  async #begin(prepared: Prepared<T>): Promise<void> {
    await this.#conn.run('BEGIN TRANSACTION')
    this.#inTransaction = true
    for (const statement of prepared.layout?.ddl ?? []) await this.#conn.run(statement)
  }

  async #rollback(): Promise<void> {
    if (!this.#inTransaction) return
    this.#inTransaction = false
    this.#forgetTable()
    await this.#conn.run('ROLLBACK')
  }

  #forgetTable(): void {
    this.#described = undefined
  }

  /** Appends the rows at `indexes` (all in one go: the appender takes part in the open transaction). */
  async #appendRows(prepared: Prepared<T>, indexes: readonly number[]): Promise<void> {
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
        this.#forgetTable()
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
   */
  async #isolate(prepared: Prepared<T>): Promise<void> {
    const bad = new Map<number, string>()
    const split = async (set: readonly number[], knownBad: boolean): Promise<void> => {
      const error = knownBad ? 'known' : await this.#probe(prepared, set)
      if (error === undefined) return
      if (set.length === 1) {
        bad.set(set[0]!, error === 'known' ? ((await this.#probe(prepared, set)) ?? 'refused') : error)
        return
      }
      const mid = set.length >> 1
      await split(set.slice(0, mid), false)
      await split(set.slice(mid), false)
    }
    await split(prepared.good, true)
    let good = prepared.good.filter((i) => !bad.has(i))
    for (;;) {
      const error = await this.#probe(prepared, good)
      if (error === undefined) break
      let lo = 1
      let hi = good.length
      let message = error
      while (lo < hi) {
        const mid = (lo + hi) >> 1
        const e = await this.#probe(prepared, good.slice(0, mid))
        if (e === undefined) lo = mid + 1
        else {
          hi = mid
          message = e
        }
      }
      bad.set(good[hi - 1]!, message)
      good = good.filter((_, i) => i !== hi - 1)
    }
    prepared.good = good
    for (const [index, reason] of [...bad].sort((a, b) => a[0] - b[0]))
      prepared.rejected.push({ row: prepared.batch.rows[index], reason })
  }

  /** DuckDB's message when these rows cannot be written, in a transaction that is always rolled back. */
  async #probe(prepared: Prepared<T>, indexes: readonly number[]): Promise<string | undefined> {
    try {
      await this.#begin(prepared)
      await this.#appendRows(prepared, indexes)
      return undefined
    } catch (error) {
      if (error instanceof DataError) return error.message
      throw error
    } finally {
      await this.#rollback()
    }
  }

  async #appendDeadLetters(prepared: Prepared<T>): Promise<void> {
    const s = this.#settings
    const letters = prepared.batch.deadLetters
    if (letters.length === 0 && prepared.rejected.length === 0) return
    const appender = await this.#conn.createAppender(s.deadLetterTable, s.schema)
    const now = new DuckDBTimestampTZValue(BigInt(Date.now()) * 1000n)
    const batchId = BigInt(prepared.batch.batchId)
    const target = `${s.schema}.${s.table}`
    const text = (v: string | null) => (v === null ? appender.appendNull() : appender.appendVarchar(v))
    const common = () => {
      appender.appendVarchar(this.#pipelineId)
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
        text(s.keyColumns.length > 0 ? keyText(r.row, s.keyColumns) : null)
        appender.appendVarchar(jsonText(r.row))
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

  // ---------------------------------------------------------------- checks and helpers

  async #exec(sql: string, parameters?: DuckDBValue[]): Promise<void> {
    try {
      await this.#conn.run(sql, parameters)
    } catch (error) {
      throw this.#wrap(error)
    }
  }

  async #storedOffsets(): Promise<{ batchId: number; positions: Positions } | undefined> {
    const reader = await this.#conn.runAndReadAll(
      `SELECT batch_id, positions FROM ${quoteIdentifier(OFFSETS_TABLE)} WHERE pipeline_id = $1`,
      [this.#pipelineId],
    )
    const row = reader.getRowObjectsJS()[0]
    if (!row) return undefined
    return { batchId: Number(row.batch_id), positions: JSON.parse(String(row.positions)) as Positions }
  }

  async #checkDeadLetterTable(): Promise<void> {
    const s = this.#settings
    const described = await describeTable(this.#conn, s.schema, s.deadLetterTable)
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

  /** `columns` against an existing table: every listed column must exist with the same type. */
  async #checkDeclaredColumns(declared: Readonly<Record<string, string>>): Promise<void> {
    const s = this.#settings
    const canonical = this.#declared
    for (const [name, sqlType] of Object.entries(declared)) {
      try {
        const reader = await this.#conn.runAndReadAll(`SELECT typeof(CAST(NULL AS ${sqlType})) AS t`)
        canonical.set(name, String(reader.getRowObjectsJS()[0]?.t))
      } catch (error) {
        throw new UsageError(
          `DuckDB sink: columns.${name} = '${sqlType}' is not a DuckDB type: ${duckdbMessage(error)}`,
        )
      }
    }
    const described = await describeTable(this.#conn, s.schema, s.table)
    if (!described) return
    const mismatches: string[] = []
    for (const [name, type] of canonical) {
      const column = described.columns.find((c) => c.name === name)
      if (!column) mismatches.push(`column "${name}" (${type} in columns) is missing`)
      else if (column.sqlType !== type)
        mismatches.push(`column "${name}" is ${column.sqlType} in the table but ${type} in columns`)
    }
    for (const c of described.columns) {
      if (!canonical.has(c.name) && !c.nullable && !c.hasDefault)
        mismatches.push(`column "${c.name}" is NOT NULL without a default but not in columns`)
    }
    if (mismatches.length > 0)
      throw new UsageError(
        `DuckDB sink: table ${s.schema}.${s.table} in ${s.location} does not fit the declared columns:\n- ${mismatches.join('\n- ')}`,
      )
  }

  #lineageError(stored: number, batchId: number): SluiceError {
    const id = this.#pipelineId.replaceAll("'", "''")
    return new SluiceError(
      'SLUICE_DUCKDB_OFFSETS_MISMATCH',
      `DuckDB ${this.#settings.location}: ${OFFSETS_TABLE} says pipeline "${this.#pipelineId}" committed batch ` +
        `${stored} here, but the checkpoint is at batch ${batchId} with other positions: the checkpoint was deleted ` +
        'or belongs to another run, and writing would duplicate or skip rows. Restore the checkpoint, or start ' +
        `over by removing what the old run wrote and its offsets row (DELETE FROM ${OFFSETS_TABLE} WHERE ` +
        `pipeline_id = '${id}').`,
      { domain: 'user', exitCode: 2 },
    )
  }

  #rejectedError(batch: OutputBatch<T>, rejected: Rejected): SluiceError {
    const s = this.#settings
    const row = rejected.row === undefined ? '' : ` Row: ${truncate(jsonText(rejected.row), 300)}.`
    return new SluiceError(
      'SLUICE_DUCKDB_ROW_REFUSED',
      `DuckDB sink ${s.schema}.${s.table}: DuckDB refused a row of batch ${batch.batchId} (${rejected.reason}); ` +
        `onError is 'fail', so nothing of the batch was written.${row}`,
      { domain: 'user' },
    )
  }

  #wrap(error: unknown): unknown {
    if (error instanceof SluiceError) return error
    if (error instanceof DataError)
      return new SluiceError('SLUICE_DUCKDB', error.message, { domain: 'external' })
    const message = duckdbMessage(error)
    const retryable = isConflict(error) || /^IO Error/.test(message)
    return new SluiceError('SLUICE_DUCKDB', `DuckDB ${this.#settings.location}: ${message}`, {
      domain: 'external',
      retryable,
      cause: error,
    })
  }
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

function asRecord(row: unknown): Readonly<Record<string, unknown>> {
  if (row !== null && typeof row === 'object' && !Array.isArray(row) && !(row instanceof Date))
    return row as Record<string, unknown>
  return { value: row }
}

function kindsOf(rows: readonly Readonly<Record<string, unknown>>[], name: string): Set<Kind> {
  const kinds = new Set<Kind>()
  for (const row of rows) {
    const kind = kindOf(row[name])
    if (kind) kinds.add(kind)
  }
  return kinds
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

function keyText(row: unknown, keyColumns: readonly string[]): string {
  const record = asRecord(row)
  return jsonText(keyColumns.length === 1 ? record[keyColumns[0]!] : keyColumns.map((k) => record[k]))
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

function rawText(letter: DeadLetter): { text: string | null; encoding: string | null } {
  const raw = letter.raw
  if (raw === null) return { text: null, encoding: null }
  if (typeof raw === 'string') return { text: raw, encoding: null }
  try {
    return { text: utf8.decode(raw), encoding: null }
  } catch {
    return { text: raw.toString('base64'), encoding: 'base64' }
  }
}

function samePositions(a: Positions, b: Positions): boolean {
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)]))
    if ((a[k] ?? 0) !== (b[k] ?? 0)) return false
  return true
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

/**
 * A DuckDB table as a sink, exactly-once: each batch's rows, its dead letters and the pipeline's position
 * (a row of `sluice_offsets`) commit in one DuckDB transaction, so after a crash the runtime knows whether the
 * batch landed. `.to(duckdb({ path: 'data/warehouse.duckdb', table: 'page_metrics', mode: 'upsert',
 * key: ['key', 'window_start'] }))`.
 */
export function duckdb<T>(options: DuckDBSinkOptions<T>): DuckDBSink<T> {
  const mode = options.mode ?? 'append'
  if (!options.path) throw new UsageError('duckdb(): a path is required (a file, or ":memory:").')
  if (!options.table) throw new UsageError('duckdb(): a table is required.')
  if (mode !== 'append' && mode !== 'upsert')
    throw new UsageError(`duckdb(): mode must be 'append' or 'upsert', not '${String(mode)}'.`)
  const keyColumns = [...(options.key ?? [])]
  if (mode === 'upsert' && keyColumns.length === 0)
    throw new UsageError('duckdb(): mode "upsert" needs a key, e.g. key: ["key", "window_start"].')
  if (mode === 'append' && keyColumns.length > 0)
    throw new UsageError('duckdb(): a key is for mode "upsert"; append mode adds every row.')
  if (options.columns) {
    if (Object.keys(options.columns).length === 0) throw new UsageError('duckdb(): columns is empty.')
    for (const k of keyColumns)
      if (!(k in options.columns)) throw new UsageError(`duckdb(): the key column "${k}" is not in columns.`)
  }
  const onError = options.onError ?? 'dead-letter'
  if (onError !== 'dead-letter' && onError !== 'fail')
    throw new UsageError(`duckdb(): onError must be 'dead-letter' or 'fail', not '${String(onError)}'.`)
  const createTable = options.createTable ?? true
  const settings: Settings = {
    location: options.path,
    key: databaseKey(options.path),
    schema: options.schema ?? 'main',
    table: options.table,
    mode,
    keyColumns,
    columns: options.columns,
    createTable,
    onError,
    deadLetterTable: options.deadLetterTable ?? 'sluice_dead_letters',
    managed: createTable && !options.columns,
  }
  if (settings.deadLetterTable === settings.table || settings.table === OFFSETS_TABLE)
    throw new UsageError(`duckdb(): table "${settings.table}" is reserved for Sluice's bookkeeping.`)
  // An in-memory database lives as long as the spec, not the pipeline: query() reads it after run() returns.
  let kept: SharedDatabase | undefined
  const keep = async (db: SharedDatabase) => {
    if (!kept && isMemoryLocation(settings.key)) kept = await acquireDatabase(db.key, db.location)
  }
  return {
    type: 'duckdb',
    options: {
      path: options.path,
      ...(settings.schema !== 'main' ? { schema: settings.schema } : {}),
      table: settings.table,
      mode,
      ...(keyColumns.length > 0 ? { key: keyColumns } : {}),
      ...(options.columns ? { columns: options.columns } : {}),
      deadLetterTable: settings.deadLetterTable,
    },
    create: () => new DuckDBSinkWriter<T>(settings, keep),
    async query(sql, parameters = []) {
      const db = await acquireDatabase(settings.key, settings.location)
      try {
        const connection = await db.connect()
        try {
          const reader = await connection.runAndReadAll(sql, [...parameters])
          return reader.getRowObjectsJS()
        } finally {
          connection.closeSync()
        }
      } finally {
        db.release()
      }
    },
    async close() {
      kept?.release()
      kept = undefined
    },
  }
}
