import type { Pool, PoolConnection, RowDataPacket } from 'mysql2/promise'
import mysql2 from 'mysql2/promise'
import { SluiceError, UsageError } from '../../errors.ts'
import type {
  OutputBatch,
  SinkCommitContext,
  SinkOpenContext,
  SinkSpec,
  SinkWriter,
} from '../../runtime/sink.ts'
import type { Positions, SourceRecord } from '../../runtime/source.ts'
import { asServerError, classify, MySqlError, MySqlRejectedError, rowMessage, wrapError } from './errors.ts'
import {
  addColumnsSql,
  checkColumnType,
  combineKinds,
  createTableSql,
  describeTable,
  type FieldSpec,
  fitProblems,
  type Inferred,
  kindOf,
  sqlTypeFor,
  type TableInfo,
  type ValueKind,
} from './schema.ts'
import { checkIdentifier, type ParsedUrl, parseMySqlUrl, quoteId, toSqlDateTime } from './sql.ts'
import {
  type Converter,
  converterFor,
  estimateBytes,
  exactBytes,
  jsonText,
  type Param,
  ValueRefused,
} from './values.ts'

export interface MySqlSinkOptions<T> {
  /** `mysql://user:password@host:3306/database` (or `mariadb://`). Default: `$MYSQL_URL`. */
  readonly url?: string
  /** The table rows go to, in the URL's database. Names are used exactly as written (always quoted). */
  readonly table: string
  /**
   * `append` (default) inserts every row; `upsert` inserts or, on a duplicate `key`, updates the row in place
   * (`INSERT … ON DUPLICATE KEY UPDATE`): for windowed aggregates in update mode.
   */
  readonly mode?: 'append' | 'upsert'
  /**
   * The row's identity: required for upsert, where the table needs a PRIMARY KEY or UNIQUE index on exactly
   * these columns. `createTable` makes it the primary key (in append mode too: a duplicate is a refused row).
   */
  readonly key?: readonly (keyof T & string)[]
  /** Column types for createTable and added columns, e.g. `{ revenue: 'DECIMAL(12, 2)' }`; others are inferred. */
  readonly columns?: { readonly [K in keyof T & string]?: string }
  /**
   * Create the table when it is missing (from `columns` and the first rows, `key` as the primary key) and add
   * nullable columns for new fields. Default false: a missing table or column is an error.
   */
  readonly createTable?: boolean
  /**
   * A row the table refuses (NULL in a NOT NULL column, a value too long, a wrong type, a duplicate key):
   * `dead-letter` (default) writes it to the dead-letter table with the server's message and commits the rest
   * of the batch; `fail` stops the pipeline with the message, nothing of the batch written.
   */
  readonly onError?: 'dead-letter' | 'fail'
  /** Dead letters of the pipeline (parse failures, …) and refused rows. Default `sluice_dead_letters`. */
  readonly deadLetterTable?: string
  /** Each pipeline's committed batch and source positions. Default `sluice_offsets`. */
  readonly offsetsTable?: string
  /** Rows per INSERT at most (rounded down to a power of two). Default 2048. */
  readonly maxRowsPerStatement?: number
}

/** STRICT: a value too long or of the wrong type is an error, never silently truncated or zeroed. */
const SQL_MODE =
  'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'
/** Prepared statements allow 65 535 placeholders. */
const MAX_PLACEHOLDERS = 65_535
/** Text columns of the dead-letter table are TEXT (64 KiB); longer reasons and keys are cut. */
const MAX_TEXT = 16_000

interface Stored {
  readonly batchId: number
  readonly positions: Positions
}

interface Transaction {
  readonly conn: PoolConnection
  readonly batch: OutputBatch<unknown>
  /** The offsets row as locked at the start of the transaction. */
  readonly stored: Stored
  /** The database holds this batch id already: commit() decides from the batch's records what to do. */
  deferred: boolean
}

/** A row the sink did not write, with the server's (or the sink's) reason. */
interface Refused {
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

type Decision = { kind: 'write' } | { kind: 'skip' } | { kind: 'conflict'; record: SourceRecord }

/**
 * What to do with a batch given the offsets row: write it; skip it (every record is before the stored
 * position and the database holds this batch id or a later one: a replay of input it already has); or
 * refuse it (some records are old, some new: a batch straddling the stored position cannot be de-duplicated
 * row by row, e.g. after a lost checkpoint replays with other batch sizes).
 */
function decide(stored: Stored, batchId: number, records: readonly SourceRecord[]): Decision {
  let old = 0
  let first: SourceRecord | undefined
  for (const r of records) {
    const next = stored.positions[r.partition]
    if (next !== undefined && r.offset < next) {
      old++
      first ??= r
    }
  }
  if (old === 0)
    return stored.batchId >= batchId && records.length === 0 ? { kind: 'skip' } : { kind: 'write' }
  if (old === records.length && stored.batchId >= batchId) return { kind: 'skip' }
  return { kind: 'conflict', record: first! }
}

/** True when the stored positions are at or past `end` in every partition. */
function covers(stored: Positions, end: Positions): boolean {
  return Object.entries(end).every(([partition, offset]) => (stored[partition] ?? 0) >= offset)
}

function positionsOf(value: unknown): Positions {
  const parsed = typeof value === 'string' ? (JSON.parse(value) as unknown) : value
  if (parsed === null || typeof parsed !== 'object') return {}
  return parsed as Positions
}

function largestPowerOfTwo(n: number): number {
  return 2 ** Math.floor(Math.log2(Math.max(1, n)))
}

/**
 * Exactly-once into MySQL or MariaDB: each batch is one transaction holding its rows, its dead letters and
 * the pipeline's position (its row of `sluice_offsets`), so after a crash the database itself says whether
 * the batch landed. The offsets row is locked first in each transaction, so a second instance of the same
 * pipeline waits and then sees the batch as done instead of writing it twice.
 */
class MySqlSinkWriter<T> implements SinkWriter<T> {
  readonly description: string
  readonly guarantee = 'exactly-once' as const
  readonly #options: MySqlSinkOptions<T>
  readonly #mode: 'append' | 'upsert'
  readonly #key: readonly string[]
  readonly #deadLetterTable: string
  readonly #offsetsTable: string
  /** Column → declared SQL type (checked). */
  readonly #declared: ReadonlyMap<string, string>
  readonly #maxRows: number
  #url: ParsedUrl | undefined
  #pool: Pool | undefined
  #pipelineId = ''
  #keyCollation = 'utf8mb4_bin'
  #maxPacket = 16 * 1024 * 1024
  /** Bytes per statement at most: under the server's max_allowed_packet. */
  #maxStatementBytes = 4 * 1024 * 1024
  readonly #initialized = new WeakSet<object>()
  /** The table as last read; undefined while it does not exist (createTable, no rows with values yet). */
  #table: TableInfo | undefined
  /** NOT NULL columns were checked against the first rows' fields. */
  #checkedRequired = false
  /** Fields known to be columns, and the INSERT's columns: those fields in table order. */
  readonly #fields = new Set<string>()
  #columns: string[] = []
  #converters: Converter[] = []
  readonly #statements = new Map<number, string>()
  #tx: Transaction | undefined

  constructor(options: MySqlSinkOptions<T>, declared: ReadonlyMap<string, string>) {
    this.#options = options
    this.#mode = options.mode ?? 'append'
    this.#key = options.key ?? []
    this.#deadLetterTable = options.deadLetterTable ?? 'sluice_dead_letters'
    this.#offsetsTable = options.offsetsTable ?? 'sluice_offsets'
    this.#declared = declared
    this.#maxRows = largestPowerOfTwo(options.maxRowsPerStatement ?? 2048)
    this.description = `mysql ${options.table} (${this.#mode})`
  }

  get #target(): string {
    return `${quoteId(this.#url?.database ?? '')}.${quoteId(this.#options.table)}`
  }

  async open(context: SinkOpenContext): Promise<void> {
    const url = this.#options.url ?? process.env.MYSQL_URL
    if (!url)
      throw new UsageError(
        'mysql(): no url given and MYSQL_URL is not set; expected mysql://user:password@host:3306/database.',
      )
    this.#url = parseMySqlUrl(url)
    this.#pipelineId = context.pipelineId
    this.#pool = mysql2.createPool({
      ...this.#url.pool,
      connectionLimit: 2,
      charset: 'utf8mb4',
      timezone: 'Z',
      dateStrings: true,
      supportBigNumbers: true,
      bigNumberStrings: true,
      maxPreparedStatements: 64,
      connectTimeout: 10_000,
      enableKeepAlive: true,
    })
    const conn = await this.#connection('connecting')
    try {
      const [info] = await conn.query<RowDataPacket[]>(
        'SELECT VERSION() AS version, @@max_allowed_packet AS packet',
      )
      const version = String(info[0]?.['version'] ?? '')
      this.#maxPacket = Number(info[0]?.['packet'] ?? this.#maxPacket)
      this.#maxStatementBytes = Math.max(64 * 1024, Math.min(this.#maxPacket - 64 * 1024, 8 * 1024 * 1024))
      // Binary and NO PAD, so keys compare as JavaScript strings do: 'a', 'A' and 'a ' are three keys.
      this.#keyCollation = /mariadb/i.test(version)
        ? 'utf8mb4_nopad_bin'
        : /^(?:[89]|\d{2,})\./.test(version)
          ? 'utf8mb4_0900_bin'
          : 'utf8mb4_bin'
      await this.#ensureBookkeeping(conn)
      const table = await describeTable(conn, this.#url.database, this.#options.table)
      if (!table && !this.#options.createTable)
        throw new UsageError(
          `mysql(): table ${this.#target} does not exist; create it, or pass createTable: true to create it from the rows.`,
        )
      if (table) {
        // What does not depend on the rows shows now: the engine, the upsert key, declared types.
        const declared = new Map<string, FieldSpec>()
        for (const [name, type] of this.#declared)
          if (table.columns.has(name) || !this.#options.createTable) declared.set(name, { declared: type })
        const problems = fitProblems(table, {
          fields: declared,
          mode: this.#mode,
          key: this.#key,
          required: false,
        })
        if (problems.length > 0) throw this.#misfit(problems)
        this.#table = table
      }
    } catch (error) {
      conn.destroy()
      throw wrapError(error, `mysql(): opening ${this.#url.redacted}`)
    }
    conn.release()
  }

  async write(batch: OutputBatch<T>): Promise<void> {
    await this.#rollback()
    await this.#prepareTable(batch.rows)
    const conn = await this.#connection(`writing batch ${batch.batchId}`)
    try {
      await conn.query('START TRANSACTION')
      // Locks the pipeline's offsets row: a second instance of the same pipeline waits instead of interleaving.
      const [rows] = await conn.execute<RowDataPacket[]>(
        `SELECT batch_id, positions FROM ${quoteId(this.#offsetsTable)} WHERE pipeline_id = ? FOR UPDATE`,
        [this.#pipelineId],
      )
      const stored: Stored = {
        batchId: Number(rows[0]?.['batch_id'] ?? -1),
        positions: positionsOf(rows[0]?.['positions'] ?? {}),
      }
      const tx: Transaction = { conn, batch, stored, deferred: stored.batchId >= batch.batchId }
      this.#tx = tx
      // The database holds this batch id already (a replay the runtime did not ask hasCommitted about):
      // whether it is the same input is decided in commit(), which sees the batch's records.
      if (!tx.deferred) await this.#writeBatch(conn, batch)
    } catch (error) {
      if (!this.#tx) this.#tx = { conn, batch, stored: { batchId: -1, positions: {} }, deferred: true }
      await this.#rollback()
      throw wrapError(error, `mysql(): writing batch ${batch.batchId} to ${this.#target}`)
    }
  }

  async commit(batch: OutputBatch<T>, context: SinkCommitContext): Promise<void> {
    if (this.#tx?.batch !== batch) await this.write(batch)
    const tx = this.#tx!
    try {
      const decision = decide(tx.stored, batch.batchId, context.records)
      if (decision.kind === 'conflict') throw this.#conflict(tx.stored, batch.batchId, decision.record)
      if (decision.kind === 'skip') {
        await this.#rollback()
      } else {
        if (tx.deferred) await this.#writeBatch(tx.conn, batch)
        const positions = { ...tx.stored.positions, ...context.next }
        await tx.conn.execute(
          `INSERT INTO ${quoteId(this.#offsetsTable)} (pipeline_id, batch_id, positions) VALUES (?, ?, ?)
             ON DUPLICATE KEY UPDATE batch_id = VALUES(batch_id), positions = VALUES(positions), updated_at = CURRENT_TIMESTAMP(3)`,
          [this.#pipelineId, batch.batchId, JSON.stringify(positions)],
        )
        await tx.conn.query('COMMIT')
        this.#tx = undefined
        tx.conn.release()
      }
    } catch (error) {
      await this.#rollback()
      // A COMMIT whose answer was lost is ambiguous: the restarted run asks the database (hasCommitted).
      throw wrapError(error, `mysql(): committing batch ${batch.batchId} to ${this.#target}`)
    }
    // The consumer group follows the database (its lag shows true progress); the database stays the truth.
    await context.source.acknowledge?.(context.next, context.records)
  }

  async abort(): Promise<void> {
    await this.#rollback()
  }

  async hasCommitted(batch: { readonly batchId: number; readonly end: Positions }): Promise<boolean> {
    const stored = await this.#stored()
    return stored.batchId >= batch.batchId && covers(stored.positions, batch.end)
  }

  async close(): Promise<void> {
    await this.#rollback()
    await this.#pool?.end().catch(() => {})
    this.#pool = undefined
  }

  /** The pipeline's committed batch and positions as the database holds them. */
  async #stored(): Promise<Stored> {
    const conn = await this.#connection('reading the offsets')
    try {
      const [rows] = await conn.execute<RowDataPacket[]>(
        `SELECT batch_id, positions FROM ${quoteId(this.#offsetsTable)} WHERE pipeline_id = ?`,
        [this.#pipelineId],
      )
      conn.release()
      return {
        batchId: Number(rows[0]?.['batch_id'] ?? -1),
        positions: positionsOf(rows[0]?.['positions'] ?? {}),
      }
    } catch (error) {
      conn.destroy()
      throw wrapError(error, `mysql(): reading the offsets of ${this.#pipelineId}`)
    }
  }

  /** A pooled connection with the session set up (strict SQL mode, UTC). */
  async #connection(what: string): Promise<PoolConnection> {
    if (!this.#pool)
      throw new SluiceError('SLUICE_INTERNAL', 'mysql(): used before open()', { domain: 'internal' })
    let conn: PoolConnection
    try {
      conn = await this.#pool.getConnection()
    } catch (error) {
      throw wrapError(error, `mysql(): ${what}: cannot connect to ${this.#url?.redacted}`)
    }
    if (!this.#initialized.has(conn.connection)) {
      try {
        await conn.query(`SET SESSION sql_mode = '${SQL_MODE}', time_zone = '+00:00'`)
      } catch (error) {
        conn.destroy()
        throw wrapError(error, `mysql(): ${what}: setting up the session`)
      }
      this.#initialized.add(conn.connection)
    }
    return conn
  }

  async #rollback(): Promise<void> {
    const tx = this.#tx
    this.#tx = undefined
    if (!tx) return
    try {
      await tx.conn.query('ROLLBACK')
      tx.conn.release()
    } catch {
      tx.conn.destroy()
    }
  }

  async #ensureBookkeeping(conn: PoolConnection): Promise<void> {
    const offsets = quoteId(this.#offsetsTable)
    await conn.query(
      `CREATE TABLE IF NOT EXISTS ${offsets} (
        pipeline_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE ${this.#keyCollation} NOT NULL PRIMARY KEY,
        batch_id BIGINT NOT NULL,
        positions JSON NOT NULL,
        updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    )
    await conn.query(
      `CREATE TABLE IF NOT EXISTS ${quoteId(this.#deadLetterTable)} (
        id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
        pipeline_id VARCHAR(255) NOT NULL,
        batch_id BIGINT NOT NULL,
        operator VARCHAR(255) NOT NULL,
        reason TEXT NOT NULL,
        error_code INT NULL,
        source_partition VARCHAR(255) NULL,
        source_offset BIGINT NULL,
        record_key TEXT NULL,
        raw LONGBLOB NULL,
        event_time DATETIME(3) NULL,
        created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        KEY pipeline_batch (pipeline_id, batch_id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    )
    const database = this.#url!.database
    const needs: readonly (readonly [string, string, readonly string[]])[] = [
      ['offsetsTable', this.#offsetsTable, ['pipeline_id', 'batch_id', 'positions', 'updated_at']],
      [
        'deadLetterTable',
        this.#deadLetterTable,
        [
          'pipeline_id',
          'batch_id',
          'operator',
          'reason',
          'error_code',
          'source_partition',
          'source_offset',
          'record_key',
          'raw',
          'event_time',
        ],
      ],
    ]
    for (const [option, name, columns] of needs) {
      const table = await describeTable(conn, database, name)
      const missing = columns.filter((c) => !table?.columns.has(c))
      if (missing.length > 0)
        throw new UsageError(
          `mysql(): table ${quoteId(database)}.${quoteId(name)} exists but lacks column(s) ${missing.map(quoteId).join(', ')}; it is not Sluice's (choose another name with ${option}).`,
        )
    }
    // The row exists before any transaction locks it (a locking read of a missing row would take a gap lock).
    await conn.execute(
      `INSERT IGNORE INTO ${offsets} (pipeline_id, batch_id, positions) VALUES (?, -1, '{}')`,
      [this.#pipelineId],
    )
  }

  /** Fields of the rows not yet known as columns, with what their values are. */
  #newFields(rows: readonly T[]): Map<string, Inferred> {
    const fresh = new Map<string, { kind: ValueKind; seen: Set<ValueKind> }>()
    for (const row of rows) {
      if (row === null || typeof row !== 'object' || Array.isArray(row)) continue
      const record = row as Record<string, unknown>
      for (const field in record) {
        if (this.#fields.has(field)) continue
        const kind = kindOf(record[field])
        const known = fresh.get(field)
        if (!known) fresh.set(field, { kind, seen: new Set([kind]) })
        else {
          known.kind = combineKinds(known.kind, kind)
          known.seen.add(kind)
        }
      }
    }
    return fresh
  }

  /**
   * Before the batch's transaction (DDL commits implicitly): fields not seen before are checked against the
   * table, which is created (createTable, from `columns` and the values) or given nullable columns for them
   * (createTable) or found not to fit (an error listing every misfit). Fields that are only null so far wait
   * until they carry a value.
   */
  async #prepareTable(rows: readonly T[]): Promise<void> {
    const fresh = this.#newFields(rows)
    if (fresh.size === 0) return
    const typeOf = (name: string, spec: Inferred) =>
      this.#declared.get(name) ?? sqlTypeFor(spec.kind, this.#key.includes(name), this.#keyCollation)
    const conn = await this.#connection('preparing the table')
    try {
      let table = this.#table
      if (!table) {
        // The rows' fields in their order, then declared columns the rows do not have (yet).
        const defs = new Map<string, string>()
        for (const [name, spec] of fresh)
          if (spec.kind !== 'null' || this.#key.includes(name) || this.#declared.has(name))
            defs.set(name, typeOf(name, spec))
        for (const [name, type] of this.#declared) if (!defs.has(name)) defs.set(name, type)
        if (defs.size === 0) return conn.release()
        const missingKey = this.#key.filter((k) => !defs.has(k))
        if (missingKey.length > 0)
          throw new UsageError(
            `mysql(): the key field(s) ${missingKey.map(quoteId).join(', ')} are neither in the rows nor in columns, so ${this.#target} cannot be created.`,
          )
        for (const name of defs.keys()) checkIdentifier(name, 'column')
        await conn.query(createTableSql(this.#options.table, [...defs], this.#key))
        table = await describeTable(conn, this.#url!.database, this.#options.table)
        if (!table) throw new MySqlError(`mysql(): ${this.#target} is missing right after CREATE TABLE`)
      }
      // Misfits: a field no column takes, values no column of its type takes, the upsert key, NOT NULL columns.
      // With createTable, fields the table lacks get a column instead, once the rest fits.
      const fields = new Map<string, FieldSpec>()
      const lacking: [string, string][] = []
      for (const [name, spec] of fresh) {
        if (spec.kind === 'null' && !table.columns.has(name)) continue
        if (!table.columns.has(name) && this.#options.createTable) lacking.push([name, typeOf(name, spec)])
        else fields.set(name, this.#declared.has(name) ? { declared: this.#declared.get(name)! } : spec)
      }
      const required = !this.#checkedRequired
      const problems = fitProblems(table, { fields, mode: this.#mode, key: this.#key, required })
      if (problems.length > 0) throw this.#misfit(problems)
      if (lacking.length > 0) {
        for (const [name] of lacking) checkIdentifier(name, 'column')
        await conn.query(addColumnsSql(this.#options.table, lacking))
        table = await describeTable(conn, this.#url!.database, this.#options.table)
        if (!table) throw new MySqlError(`mysql(): ${this.#target} is missing right after ALTER TABLE`)
      }
      this.#checkedRequired = true
      this.#table = table
      for (const name of [...fields.keys(), ...lacking.map(([name]) => name)]) this.#addColumn(name)
    } catch (error) {
      conn.destroy()
      throw wrapError(error, `mysql(): preparing ${this.#target}`)
    }
    conn.release()
  }

  #misfit(problems: readonly string[]): UsageError {
    const fix = this.#options.createTable
      ? 'Alter the table or write to another one.'
      : 'Alter the table, write to another one, or pass createTable: true to add columns for new fields.'
    return new UsageError(
      `mysql(): table ${this.#target} does not fit the rows:\n${problems.map((p) => `  - ${p}`).join('\n')}\n${fix}`,
    )
  }

  /** A field that is a column: the INSERT names it from now on, in table order (stable statement text). */
  #addColumn(field: string): void {
    if (this.#fields.has(field)) return
    this.#fields.add(field)
    const order = [...this.#table!.columns.keys()]
    this.#columns = [...this.#columns, field].sort((a, b) => order.indexOf(a) - order.indexOf(b))
    this.#converters = this.#columns.map((c) => converterFor(this.#table!.columns.get(c)!))
    this.#statements.clear()
  }

  /** Inside the transaction: the rows, then the dead letters (the pipeline's and the refused rows). */
  async #writeBatch(conn: PoolConnection, batch: OutputBatch<unknown>): Promise<void> {
    const refused: Refused[] = []
    await this.#insertRows(conn, batch.rows, refused)
    refused.sort((a, b) => a.index - b.index)
    if (refused.length > 0 && this.#options.onError === 'fail') throw this.#rejected(batch, refused)
    await this.#insertDeadLetters(conn, batch, refused)
  }

  /** A row as statement values with a size estimate, or undefined when it is refused here (into `refused`). */
  #convert(row: unknown, index: number, refused: Refused[]): Converted | undefined {
    const columns = this.#columns
    const converters = this.#converters
    if (row === null || typeof row !== 'object' || Array.isArray(row)) {
      refused.push({ index, reason: `the row is not an object: ${jsonText(row)}`, code: null })
      return undefined
    }
    const record = row as Record<string, unknown>
    const values = new Array<Param>(columns.length)
    let bytes = columns.length * 3 + 4 // its share of the statement text
    try {
      for (let c = 0; c < columns.length; c++) {
        const v = converters[c]!(record[columns[c]!])
        values[c] = v
        bytes += estimateBytes(v)
      }
    } catch (error) {
      if (!(error instanceof ValueRefused)) throw error
      refused.push({ index, reason: error.message, code: null })
      return undefined
    }
    if (bytes > this.#maxStatementBytes) {
      const exact = exactBytes(values)
      if (exact > this.#maxPacket - 64 * 1024) {
        refused.push({
          index,
          reason: `the row takes ${exact} bytes, more than the server's max_allowed_packet (${this.#maxPacket})`,
          code: null,
        })
        return undefined
      }
      bytes = exact
    }
    return { values, bytes, index }
  }

  #insertSql(rows: number): string {
    let sql = this.#statements.get(rows)
    if (sql) return sql
    const names = this.#columns.map(quoteId).join(', ')
    const tuple = `(${this.#columns.map(() => '?').join(', ')})`
    sql = `INSERT INTO ${quoteId(this.#options.table)} (${names}) VALUES ${new Array(rows).fill(tuple).join(', ')}`
    if (this.#mode === 'upsert') {
      const update = this.#columns.filter((c) => !this.#key.includes(c))
      const set = (update.length > 0 ? update : this.#columns.slice(0, 1)).map(
        (c) => `${quoteId(c)} = VALUES(${quoteId(c)})`,
      )
      sql += ` ON DUPLICATE KEY UPDATE ${set.join(', ')}`
    }
    this.#statements.set(rows, sql)
    return sql
  }

  /**
   * Multi-row INSERTs of power-of-two row counts (few distinct prepared statements), each under the packet
   * and placeholder limits. Rows are converted a statement ahead, while the server executes the previous one.
   * A statement the server refuses for a row's data is undone by InnoDB as a whole (statement atomicity),
   * then split in halves until the refused rows are alone: they go to `refused` with the server's message,
   * the others are written.
   */
  async #insertRows(conn: PoolConnection, rows: readonly unknown[], refused: Refused[]): Promise<void> {
    if (rows.length === 0) return
    if (this.#columns.length === 0) {
      for (let i = 0; i < rows.length; i++) {
        const row = rows[i]
        const object = row !== null && typeof row === 'object' && !Array.isArray(row)
        const reason = object
          ? 'the row has no field with a value yet'
          : `the row is not an object: ${jsonText(row)}`
        refused.push({ index: i, reason, code: null })
      }
      return
    }
    const cap = largestPowerOfTwo(
      Math.min(this.#maxRows, Math.floor(MAX_PLACEHOLDERS / this.#columns.length)),
    )
    const limit = this.#maxStatementBytes
    let queue: Converted[] = []
    let queuedBytes = 0
    let next = 0
    const take = (): Converted[] | undefined => {
      while (queue.length < cap && queuedBytes <= limit && next < rows.length) {
        const converted = this.#convert(rows[next], next, refused)
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
      const sending = this.#insertChunk(conn, chunk, refused)
      sending.catch(() => {}) // awaited below; converting the next chunk meanwhile must not leave it unhandled
      const following = take()
      await sending
      chunk = following
    }
  }

  async #insertChunk(conn: PoolConnection, chunk: readonly Converted[], refused: Refused[]): Promise<void> {
    const n = chunk.length
    const params: Param[] = []
    for (const row of chunk) for (const v of row.values) params.push(v)
    try {
      await conn.execute(this.#insertSql(n), params)
    } catch (error) {
      if (classify(error) !== 'data') throw error
      if (n === 1) {
        refused.push({
          index: chunk[0]!.index,
          reason: rowMessage(error),
          code: asServerError(error)?.errno ?? null,
        })
        return
      }
      await this.#insertChunk(conn, chunk.slice(0, n / 2), refused)
      await this.#insertChunk(conn, chunk.slice(n / 2), refused)
    }
  }

  async #insertDeadLetters(
    conn: PoolConnection,
    batch: OutputBatch<unknown>,
    refused: readonly Refused[],
  ): Promise<void> {
    const letters: Param[][] = []
    const cut = (s: string) => (s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT)}…` : s)
    const maxRaw = Math.floor(this.#maxStatementBytes / 2)
    const raw = (value: Buffer | string | null): Buffer | null => {
      if (value === null) return null
      const bytes = typeof value === 'string' ? Buffer.from(value) : value
      return bytes.length > maxRaw ? bytes.subarray(0, maxRaw) : bytes
    }
    const time = (ms: number) =>
      Number.isFinite(ms) && ms >= 0 && ms < 253402300800000 ? toSqlDateTime(ms) : null
    for (const d of batch.deadLetters) {
      letters.push([
        this.#pipelineId,
        batch.batchId,
        cut(d.operator),
        cut(d.reason),
        null,
        cut(d.partition),
        Number.isFinite(d.offset) ? d.offset : null,
        d.key === null ? null : cut(d.key),
        raw(d.raw),
        time(d.timestamp),
      ])
    }
    for (const r of refused) {
      const row = batch.rows[r.index]
      const key =
        this.#key.length > 0 && row !== null && typeof row === 'object'
          ? jsonText(this.#key.map((k) => (row as Record<string, unknown>)[k] ?? null))
          : null
      letters.push([
        this.#pipelineId,
        batch.batchId,
        'sink',
        cut(r.reason),
        r.code,
        null,
        null,
        key === null ? null : cut(key),
        raw(jsonText(row) ?? null),
        null,
      ])
    }
    if (letters.length === 0) return
    const tuple = '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)'
    const head = `INSERT INTO ${quoteId(this.#deadLetterTable)} (pipeline_id, batch_id, operator, reason, error_code, source_partition, source_offset, record_key, raw, event_time) VALUES `
    let start = 0
    while (start < letters.length) {
      let n = 0
      let size = 0
      while (start + n < letters.length && n < 1024) {
        const next = letters[start + n]!.reduce<number>((s, v) => s + estimateBytes(v), 0)
        if (n > 0 && size + next > this.#maxStatementBytes) break
        size += next
        n++
      }
      n = largestPowerOfTwo(n)
      await conn.execute(head + new Array(n).fill(tuple).join(', '), letters.slice(start, start + n).flat())
      start += n
    }
  }

  #rejected(batch: OutputBatch<unknown>, refused: readonly Refused[]): MySqlRejectedError {
    const first = refused[0]!
    const row = jsonText(batch.rows[first.index])
    return new MySqlRejectedError(
      `mysql(): table ${this.#target} refused ${refused.length} row(s) of batch ${batch.batchId}, nothing of the batch was written (onError: 'fail'). First: ${first.reason}; row ${first.index}: ${row.length > 500 ? `${row.slice(0, 500)}…` : row}`,
    )
  }

  #conflict(stored: Stored, batchId: number, record: SourceRecord): SluiceError {
    const offsets = `${quoteId(this.#url!.database)}.${quoteId(this.#offsetsTable)}`
    return new SluiceError(
      'SLUICE_MYSQL_OFFSETS',
      `mysql(): batch ${batchId} of pipeline "${this.#pipelineId}" mixes input ${offsets} says is written (${record.partition}@${record.offset}; the database is at batch ${stored.batchId}, ${JSON.stringify(stored.positions)}) with input that is not: the checkpoint was reset or belongs to another run, and the batch's rows cannot be told apart. Restore the checkpoint, or delete the pipeline's row from ${offsets} (and its rows from ${this.#target}) to write everything again.`,
      { domain: 'user', exitCode: 2 },
    )
  }
}

/**
 * A MySQL or MariaDB table, exactly once: `.to(mysql({ table: 'page_metrics', mode: 'upsert', key: ['key',
 * 'window_start'], createTable: true }))`. Each batch's rows, its dead letters and the pipeline's source
 * positions commit in one transaction.
 */
export function mysql<T>(options: MySqlSinkOptions<T>): SinkSpec<T> {
  if (!options || typeof options.table !== 'string')
    throw new UsageError('mysql(): a table is required, e.g. mysql({ table: "page_metrics" }).')
  checkIdentifier(options.table, 'table')
  if (options.deadLetterTable !== undefined) checkIdentifier(options.deadLetterTable, 'deadLetterTable')
  if (options.offsetsTable !== undefined) checkIdentifier(options.offsetsTable, 'offsetsTable')
  const mode = options.mode ?? 'append'
  if (mode !== 'append' && mode !== 'upsert')
    throw new UsageError(`mysql(): mode must be 'append' or 'upsert', not ${JSON.stringify(mode)}.`)
  if (options.onError !== undefined && options.onError !== 'dead-letter' && options.onError !== 'fail')
    throw new UsageError(
      `mysql(): onError must be 'dead-letter' or 'fail', not ${JSON.stringify(options.onError)}.`,
    )
  const key = options.key ?? []
  if (mode === 'upsert' && key.length === 0)
    throw new UsageError(
      "mysql(): mode 'upsert' needs key: the fields that identify a row, e.g. ['key', 'window_start'].",
    )
  for (const k of key) checkIdentifier(k, 'key column')
  const declared = new Map<string, string>()
  for (const [name, type] of Object.entries(options.columns ?? {})) {
    if (type === undefined) continue
    checkIdentifier(name, 'column')
    declared.set(name, checkColumnType(name, String(type)))
  }
  if (options.maxRowsPerStatement !== undefined && !(options.maxRowsPerStatement >= 1))
    throw new UsageError('mysql(): maxRowsPerStatement must be at least 1.')
  const url = options.url !== undefined ? parseMySqlUrl(options.url).redacted : undefined
  return {
    type: 'mysql',
    options: {
      ...(url ? { url } : {}),
      table: options.table,
      mode,
      ...(key.length > 0 ? { key } : {}),
      ...(declared.size > 0 ? { columns: Object.fromEntries(declared) } : {}),
      ...(options.createTable ? { createTable: true } : {}),
      onError: options.onError ?? 'dead-letter',
      deadLetterTable: options.deadLetterTable ?? 'sluice_dead_letters',
      offsetsTable: options.offsetsTable ?? 'sluice_offsets',
    },
    create: () => new MySqlSinkWriter<T>(options, declared),
  }
}
