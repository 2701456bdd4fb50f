import pg from 'pg'
import { UsageError } from '../../errors.ts'
import type {
  DeadLetter,
  OutputBatch,
  SinkCommitContext,
  SinkOpenContext,
  SinkSpec,
  SinkWriter,
} from '../../runtime/sink.ts'
import type { Positions, SourceRecord } from '../../runtime/source.ts'
import {
  checkTypeName,
  encodeValue,
  fits,
  inferType,
  jsonReplacer,
  kindOf,
  type PgColumnType,
  type TableColumn,
  type ValueKind,
} from './columns.ts'
import { copyIn } from './copy.ts'
import { copyLine, type DbErrorFields, dbError, isDataError, PostgresError, wrapError } from './errors.ts'
import { displayName, parseTableName, qualified, quoteIdent, sibling, type TableName } from './identifiers.ts'

export interface PostgresSinkOptions<T> {
  /** Connection URL. Default: $DATABASE_URL. */
  readonly url?: string
  /** Target table, optionally schema-qualified: "analytics.page_metrics". Names are used exactly as written. */
  readonly table: string
  /**
   * 'append' (default) adds every row (COPY); 'upsert' inserts or updates by `key` (INSERT … ON CONFLICT),
   * for windowed aggregates in update mode, where a window's row is emitted again as it changes.
   */
  readonly mode?: 'append' | 'upsert'
  /** The columns that identify a row, for upsert: `['key', 'window_start']`. */
  readonly key?: readonly (keyof T & string)[]
  /** Column types for createTable (and for added columns); fields not listed are inferred from the rows. */
  readonly columns?: { readonly [K in keyof T & string]?: PgColumnType }
  /**
   * Create the table when it is missing (from `columns` and the first batch's rows, with `key` as the primary
   * key) and add columns for new fields. Default false: a missing table or column is an error.
   */
  readonly createTable?: boolean
  /**
   * A row the table rejects (null in a NOT NULL column, a value too long, a string that is not a number…):
   * 'dead-letter' (default) writes it to the dead-letter table with the database's message and commits the
   * rest of the batch; 'fail' stops the pipeline with an error naming the row, writing nothing of the batch.
   */
  readonly onError?: 'dead-letter' | 'fail'
  /** Dead letters of the pipeline and rejected rows. Default "sluice_dead_letters", next to the table. */
  readonly deadLetterTable?: string
  /** Where the pipeline's committed position is kept. Default "sluice_offsets", next to the table. */
  readonly offsetsTable?: string
}

type Row = Readonly<Record<string, unknown>>

interface Stored {
  readonly batchId: number
  readonly positions: Readonly<Record<string, number>>
}

interface Line {
  /** Position of the row in the batch. */
  readonly index: number
  readonly row: Row
}

interface BadRow {
  readonly index: number
  readonly row: Row
  readonly error: DbErrorFields
}

interface Transaction<T> {
  readonly client: pg.PoolClient
  readonly batch: OutputBatch<T>
  readonly onError: (error: Error) => void
  stored: Stored
  /** The rows are not written yet: the database said this batch may be committed already (see commit). */
  deferred: boolean
}

interface Resolved {
  readonly url: string | undefined
  readonly table: TableName
  readonly offsets: TableName
  readonly deadLetters: TableName
  readonly mode: 'append' | 'upsert'
  readonly key: readonly string[]
  readonly declared: ReadonlyMap<string, string>
  readonly createTable: boolean
  readonly onError: 'dead-letter' | 'fail'
}

/** Marker errors for DDL races (another instance created the same table a moment before). */
const ALREADY_EXISTS = new Set(['42P07', '42P06', '42701', '23505'])

/**
 * Exactly-once into PostgreSQL: each batch is one transaction holding its rows, its dead letters and the
 * pipeline's position (a row of `sluice_offsets`), so after a crash the database itself says whether the
 * batch landed. The offsets row is locked first in each transaction, so a second instance of the same
 * pipeline waits and then sees the batch as done instead of writing it twice.
 */
class PostgresSinkWriter<T> implements SinkWriter<T> {
  readonly description: string
  readonly guarantee = 'exactly-once' as const
  readonly #options: Resolved
  #pool: pg.Pool | undefined
  #pipelineId = ''
  /** The table's columns in order; undefined while the table does not exist (createTable, no rows yet). */
  #columns: Map<string, TableColumn> | undefined
  /** Fields whose values were checked against their column. */
  readonly #checked = new Set<string>()
  #tx: Transaction<T> | undefined

  constructor(options: Resolved) {
    this.#options = options
    this.description = `postgres ${displayName(options.table)} (${options.mode})`
  }

  get #name(): string {
    return displayName(this.#options.table)
  }

  async open(context: SinkOpenContext): Promise<void> {
    this.#pipelineId = context.pipelineId
    const url = this.#options.url ?? process.env.DATABASE_URL
    if (!url)
      throw new UsageError(
        `postgres sink for ${this.#name}: no database given; pass url or set DATABASE_URL (postgres://user:password@host:5432/db).`,
      )
    const pool = new pg.Pool({ connectionString: url, max: 2, connectionTimeoutMillis: 10_000 })
    // An idle connection dropped by the server (a restart) is replaced on next use; a query that meets it fails
    // and the pipeline restarts from its checkpoint. Without a listener the process would crash.
    pool.on('error', () => {})
    this.#pool = pool
    try {
      await this.#setup(pool)
    } catch (error) {
      throw wrapError(error, `opening ${this.#name}`)
    }
  }

  async #setup(pool: pg.Pool): Promise<void> {
    const { table, offsets, deadLetters, createTable, declared, mode, key } = this.#options
    if (createTable) {
      for (const schema of new Set([table.schema, offsets.schema, deadLetters.schema]))
        if (schema !== undefined) await this.#ddl(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`)
    }
    await this.#ddl(
      `CREATE TABLE IF NOT EXISTS ${qualified(offsets)} (pipeline_id text PRIMARY KEY, batch_id bigint NOT NULL, ` +
        'positions jsonb NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())',
    )
    await this.#ddl(
      `CREATE TABLE IF NOT EXISTS ${qualified(deadLetters)} (id bigserial PRIMARY KEY, pipeline_id text NOT NULL, ` +
        'batch_id bigint NOT NULL, operator text NOT NULL, reason text NOT NULL, sqlstate text, detail text, ' +
        'source_partition text, source_offset bigint, key text, raw bytea, raw_text text, ' +
        'created_at timestamptz NOT NULL DEFAULT now())',
    )
    await pool.query(
      `INSERT INTO ${qualified(offsets)} (pipeline_id, batch_id, positions) VALUES ($1, -1, '{}') ON CONFLICT (pipeline_id) DO NOTHING`,
      [this.#pipelineId],
    )
    this.#columns = await this.#loadColumns(pool)
    if (!this.#columns) {
      if (!createTable)
        throw new UsageError(
          `postgres sink: table ${this.#name} does not exist. Create it, or pass createTable: true to create it from the rows.`,
        )
      // With every column typed up front the table can exist before the first row; otherwise the rows tell.
      if (declared.size > 0 && key.every((k) => declared.has(k))) await this.#createTable([...declared])
    }
    if (this.#columns && mode === 'upsert') await this.#checkKey(pool, this.#columns)
  }

  /** DDL outside the batch transaction; a concurrent creator winning the race is fine. */
  async #ddl(sql: string): Promise<void> {
    try {
      await this.#pool!.query(sql)
    } catch (error) {
      const { code } = dbError(error)
      if (code === undefined || !ALREADY_EXISTS.has(code)) throw error
    }
  }

  async #loadColumns(db: pg.Pool | pg.ClientBase): Promise<Map<string, TableColumn> | undefined> {
    const ref = qualified(this.#options.table)
    const exists = await db.query<{ oid: string | null }>('SELECT to_regclass($1)::oid AS oid', [ref])
    if (!exists.rows[0]?.oid) return undefined
    const result = await db.query<TableColumn>(
      `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
              coalesce(b.typname, t.typname)::text AS typname, coalesce(b.typcategory, t.typcategory)::text AS category,
              a.attnotnull AS "notNull"
         FROM pg_attribute a
         JOIN pg_type t ON t.oid = a.atttypid
         LEFT JOIN pg_type b ON t.typtype = 'd' AND b.oid = t.typbasetype
        WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
        ORDER BY a.attnum`,
      [exists.rows[0].oid],
    )
    return new Map(result.rows.map((c) => [c.name, c]))
  }

  /** ON CONFLICT needs a primary key or unique index on exactly the key columns. */
  async #checkKey(pool: pg.Pool, columns: ReadonlyMap<string, TableColumn>): Promise<void> {
    const { key } = this.#options
    const missing = key.filter((k) => !columns.has(k))
    if (missing.length > 0)
      throw new UsageError(
        `postgres sink: table ${this.#name} has no column ${missing.map((m) => JSON.stringify(m)).join(', ')} of the upsert key.`,
      )
    const result = await pool.query<{ ok: boolean }>(
      `SELECT EXISTS (
         SELECT 1 FROM pg_index i
          WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indimmediate AND i.indpred IS NULL
            AND NOT (0 = ANY (i.indkey))
            AND (SELECT array_agg(a.attname::text ORDER BY a.attname::text) FROM pg_attribute a
                  WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey))
              = (SELECT array_agg(k ORDER BY k) FROM unnest($2::text[]) AS k)
       ) AS ok`,
      [qualified(this.#options.table), key],
    )
    if (!result.rows[0]?.ok)
      throw new UsageError(
        `postgres sink: upsert into ${this.#name} needs a primary key or unique index on (${key.join(', ')}); the table has none.`,
      )
  }

  async #createTable(columns: readonly (readonly [string, string])[]): Promise<void> {
    const { table, mode, key } = this.#options
    const defs = columns.map(([name, type]) => `${quoteIdent(name)} ${checkTypeName(name, type)}`)
    if (mode === 'upsert') defs.push(`PRIMARY KEY (${key.map(quoteIdent).join(', ')})`)
    await this.#ddl(`CREATE TABLE IF NOT EXISTS ${qualified(table)} (${defs.join(', ')})`)
    this.#columns = await this.#loadColumns(this.#pool!)
  }

  async write(batch: OutputBatch<T>): Promise<void> {
    if (this.#tx) await this.#rollback()
    let client: pg.PoolClient
    try {
      client = await this.#pool!.connect()
    } catch (error) {
      throw wrapError(error, `connecting to write batch ${batch.batchId} to ${this.#name}`)
    }
    // A connection lost while checked out reports here; the pending (or next) query fails with it.
    const onError = () => {}
    client.on('error', onError)
    const tx: Transaction<T> = {
      client,
      batch,
      onError,
      stored: { batchId: -1, positions: {} },
      deferred: false,
    }
    this.#tx = tx
    try {
      await client.query('BEGIN')
      tx.stored = await this.#lockStored(client)
      // Defensive: the database holds this batch id already (a replay after a crash the checkpoint did not
      // see). Whether it really is the same input is decided in commit(), which sees the batch's records.
      if (tx.stored.batchId >= batch.batchId) tx.deferred = true
      else await this.#writeBatch(client, batch)
    } catch (error) {
      await this.#rollback()
      throw wrapError(error, `writing batch ${batch.batchId} to ${this.#name}`)
    }
  }

  async commit(batch: OutputBatch<T>, context: SinkCommitContext): Promise<void> {
    const tx = this.#tx
    if (!tx || tx.batch !== batch) await this.write(batch)
    const current = this.#tx!
    try {
      const decision = decide(current.stored, batch.batchId, context.records)
      if (decision.kind === 'conflict') throw this.#conflict(current.stored, batch.batchId, decision.record)
      if (decision.kind === 'skip') {
        await this.#rollback()
      } else {
        if (current.deferred) await this.#writeBatch(current.client, batch)
        const positions = { ...current.stored.positions, ...context.next }
        await current.client.query(
          `UPDATE ${qualified(this.#options.offsets)} SET batch_id = $2, positions = $3::jsonb, updated_at = now() WHERE pipeline_id = $1`,
          [this.#pipelineId, batch.batchId, JSON.stringify(positions)],
        )
        await current.client.query('COMMIT')
        this.#release(current)
      }
    } catch (error) {
      await this.#rollback()
      // A COMMIT whose answer was lost is ambiguous: the retry asks the database (hasCommitted).
      throw wrapError(error, `committing batch ${batch.batchId} to ${this.#name}`)
    }
    // The consumer group follows the database (lag shows true progress); the database stays the truth.
    await context.source.acknowledge?.(context.next, context.records)
  }

  async abort(): Promise<void> {
    await this.#rollback()
  }

  async hasCommitted(batch: { readonly batchId: number; readonly end: Positions }): Promise<boolean> {
    let stored: Stored | undefined
    try {
      stored = await this.#readStored(this.#pool!, false)
    } catch (error) {
      throw wrapError(error, `reading the committed position of ${this.#pipelineId}`)
    }
    return stored !== undefined && stored.batchId >= batch.batchId && covers(stored.positions, batch.end)
  }

  /**
   * The last batch this pipeline committed to the database and the positions after it (undefined before
   * the first). Call after open().
   */
  async committedPosition(): Promise<Stored | undefined> {
    try {
      const stored = await this.#readStored(this.#pool!, false)
      return stored && stored.batchId >= 0 ? stored : undefined
    } catch (error) {
      throw wrapError(error, `reading the committed position of ${this.#pipelineId}`)
    }
  }

  async close(): Promise<void> {
    await this.#rollback()
    const pool = this.#pool
    this.#pool = undefined
    await pool?.end().catch(() => {})
  }

  async #readStored(db: pg.Pool | pg.ClientBase, lock: boolean): Promise<Stored | undefined> {
    const result = await db.query<{ batch_id: string; positions: Record<string, number> }>(
      `SELECT batch_id, positions FROM ${qualified(this.#options.offsets)} WHERE pipeline_id = $1${lock ? ' FOR UPDATE' : ''}`,
      [this.#pipelineId],
    )
    const row = result.rows[0]
    return row ? { batchId: Number(row.batch_id), positions: row.positions ?? {} } : undefined
  }

  /** Reads the pipeline's position and locks its row until the transaction ends (one writer at a time). */
  async #lockStored(client: pg.ClientBase): Promise<Stored> {
    const stored = await this.#readStored(client, true)
    if (stored) return stored
    await client.query(
      `INSERT INTO ${qualified(this.#options.offsets)} (pipeline_id, batch_id, positions) VALUES ($1, -1, '{}') ON CONFLICT (pipeline_id) DO NOTHING`,
      [this.#pipelineId],
    )
    return (await this.#readStored(client, true)) ?? { batchId: -1, positions: {} }
  }

  #conflict(stored: Stored, batchId: number, record: SourceRecord): PostgresError {
    const offsets = displayName(this.#options.offsets)
    return new PostgresError(
      `postgres sink: ${offsets} says pipeline "${this.#pipelineId}" committed batch ${stored.batchId} up to ` +
        `${JSON.stringify(stored.positions)}, but batch ${batchId} holds input before that (${record.partition}@${record.offset}): ` +
        `the checkpoint does not belong with this database. Run with the checkpoint that wrote it, or delete the ` +
        `pipeline's row from ${offsets} (and its rows from ${this.#name}) to write everything again.`,
      { domain: 'user', retryable: false },
    )
  }

  #release(tx: Transaction<T>, broken = false): void {
    if (this.#tx === tx) this.#tx = undefined
    tx.client.removeListener('error', tx.onError)
    tx.client.release(broken)
  }

  async #rollback(): Promise<void> {
    const tx = this.#tx
    if (!tx) return
    this.#tx = undefined
    try {
      await tx.client.query('ROLLBACK')
      this.#release(tx)
    } catch {
      this.#release(tx, true)
    }
  }

  // ---- writing a batch -------------------------------------------------------------------------------

  async #writeBatch(client: pg.ClientBase, batch: OutputBatch<T>): Promise<void> {
    const lines = this.#linesOf(batch)
    let bad: BadRow[] = []
    if (lines.length > 0) {
      const columns = await this.#prepareColumns(lines)
      bad = await this.#writeRows(client, lines, columns, batch.batchId)
    }
    if (bad.length > 0 || batch.deadLetters.length > 0) await this.#writeDeadLetters(client, batch, bad)
  }

  /** The batch's rows as objects; for upsert the last row per key (one statement cannot update a row twice). */
  #linesOf(batch: OutputBatch<T>): Line[] {
    const out: Line[] = new Array(batch.rows.length)
    for (let i = 0; i < batch.rows.length; i++) {
      const row = batch.rows[i]
      if (row === null || typeof row !== 'object' || Array.isArray(row))
        throw new UsageError(
          `postgres sink: rows must be objects (one field per column); batch ${batch.batchId} has ${row === null ? 'null' : typeof row} at index ${i}.`,
        )
      out[i] = { index: i, row: row as Row }
    }
    if (this.#options.mode !== 'upsert') return out
    const key = this.#options.key
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
   * Checks the rows' fields against the table (once per column, when it first has values) and returns the
   * columns to write. Creates the table or adds columns when createTable allows; otherwise a missing or
   * unfitting column is a UsageError listing every mismatch.
   */
  async #prepareColumns(lines: readonly Line[]): Promise<TableColumn[]> {
    const { declared, createTable, key, mode } = this.#options
    const present = new Map<string, Set<ValueKind>>()
    for (const { row } of lines) {
      for (const name in row) {
        const value = row[name]
        if (value === undefined) continue
        let kinds = present.get(name)
        if (!kinds) {
          kinds = new Set()
          present.set(name, kinds)
        }
        if (!this.#checked.has(name)) {
          const kind = kindOf(value)
          if (kind) kinds.add(kind)
        }
      }
    }
    const typeFor = (name: string, kinds: ReadonlySet<ValueKind>) => declared.get(name) ?? inferType(kinds)
    if (!this.#columns) {
      const defs = new Map<string, string>(declared)
      for (const [name, kinds] of present) {
        const type = typeFor(name, kinds)
        if (type && !defs.has(name)) defs.set(name, type)
      }
      for (const k of key) if (!defs.has(k)) defs.set(k, 'text')
      await this.#createTable([...defs])
      if (!this.#columns) throw new UsageError(`postgres sink: could not create table ${this.#name}.`)
    }
    let columns: Map<string, TableColumn> = this.#columns
    const mismatches: string[] = []
    const additions: [string, string][] = []
    for (const [name, kinds] of present) {
      const column = columns.get(name)
      if (!column) {
        const type = typeFor(name, kinds)
        if (type === undefined) continue // only nulls so far: nothing to write, nothing lost
        if (createTable) additions.push([name, type])
        else mismatches.push(`column ${JSON.stringify(name)}: missing (rows need ${type})`)
        continue
      }
      if (this.#checked.has(name) || kinds.size === 0) continue
      if ([...kinds].every((k) => fits(k, column))) this.#checked.add(name)
      else
        mismatches.push(
          `column ${JSON.stringify(name)}: table has ${column.type}, rows need ${inferType(kinds)}`,
        )
    }
    if (mismatches.length > 0)
      throw new UsageError(
        `postgres sink: table ${this.#name} does not fit the rows: ${mismatches.join('; ')}.` +
          (createTable ? '' : ' (createTable: true adds missing columns.)'),
      )
    if (additions.length > 0) {
      for (const [name, type] of additions)
        await this.#ddl(
          `ALTER TABLE ${qualified(this.#options.table)} ADD COLUMN IF NOT EXISTS ${quoteIdent(name)} ${checkTypeName(name, type)}`,
        )
      this.#columns = (await this.#loadColumns(this.#pool!)) ?? columns
      columns = this.#columns
      for (const [name] of additions) this.#checked.add(name)
    }
    const written = [...columns.values()].filter(
      (c) => present.has(c.name) || (mode === 'upsert' && key.includes(c.name)),
    )
    if (written.length === 0)
      throw new UsageError(
        `postgres sink: the rows have no field with a value for any column of ${this.#name}.`,
      )
    return written
  }

  /**
   * Writes the rows in one go; when the table rejects some, isolates them inside the transaction with
   * savepoints: the failing COPY line when the database names it (checked on its own), halves otherwise.
   * The good rows stay written, the bad ones are returned with the database's error.
   */
  async #writeRows(
    client: pg.ClientBase,
    lines: readonly Line[],
    columns: readonly TableColumn[],
    batchId: number,
  ): Promise<BadRow[]> {
    const { table, mode, key, onError } = this.#options
    const names = columns.map((c) => quoteIdent(c.name)).join(', ')
    const encode = lineEncoder(columns)
    const send = (sql: string, chunk: readonly Line[]) =>
      copyIn(client, sql, chunk.length, (i) => encode(chunk[i]!.row))
    let attempt: (chunk: readonly Line[]) => Promise<void>
    if (mode === 'append') {
      const sql = `COPY ${qualified(table)} (${names}) FROM STDIN`
      attempt = async (chunk) => {
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
      attempt = async (chunk) => {
        await send(copy, chunk)
        await client.query(insert)
        await client.query(`TRUNCATE ${stage}`)
      }
    }
    const bad: BadRow[] = []
    const work: (readonly Line[])[] = [lines]
    while (work.length > 0) {
      const chunk = work.pop()!
      if (chunk.length === 0) continue
      await client.query('SAVEPOINT sluice_rows')
      try {
        await attempt(chunk)
        await client.query('RELEASE SAVEPOINT sluice_rows')
      } catch (error) {
        if (!isDataError(error)) throw error
        await client.query('ROLLBACK TO SAVEPOINT sluice_rows')
        await client.query('RELEASE SAVEPOINT sluice_rows')
        if (chunk.length === 1) {
          const only = chunk[0]!
          if (onError === 'fail') throw this.#rowError(only, batchId, dbError(error))
          bad.push({ index: only.index, row: only.row, error: dbError(error) })
          continue
        }
        // In order: the rows before the named line (accepted by COPY up to there), the line alone, the rest.
        const line = copyLine(error)
        if (line !== undefined && line >= 1 && line <= chunk.length)
          work.push(chunk.slice(line), chunk.slice(line - 1, line), chunk.slice(0, line - 1))
        else {
          const mid = chunk.length >>> 1
          work.push(chunk.slice(mid), chunk.slice(0, mid))
        }
      }
    }
    return bad
  }

  #rowError(line: Line, batchId: number, error: DbErrorFields): PostgresError {
    const detail = error.detail ? ` (${error.detail})` : ''
    const state = error.code ? ` [SQLSTATE ${error.code}]` : ''
    return new PostgresError(
      `postgres sink: table ${this.#name} rejected the row at index ${line.index} of batch ${batchId}: ` +
        `${error.message}${detail}${state}. Nothing of the batch was written (onError: 'fail').`,
      { domain: 'user', retryable: false, ...(error.code ? { sqlState: error.code } : {}) },
    )
  }

  async #writeDeadLetters(
    client: pg.ClientBase,
    batch: OutputBatch<T>,
    bad: readonly BadRow[],
  ): Promise<void> {
    const { key, mode, deadLetters } = this.#options
    const id = this.#pipelineId
    const operator = `sink:${this.#name}`
    const lines: string[] = []
    const line = (values: readonly unknown[]) => values.map((v) => encodeValue(v, false)).join('\t') + '\n'
    for (const letter of batch.deadLetters) {
      const { raw, text } = rawColumns(letter)
      lines.push(
        line([
          id,
          batch.batchId,
          clean(letter.operator),
          clean(letter.reason),
          null,
          null,
          clean(letter.partition),
          Number.isSafeInteger(letter.offset) ? letter.offset : null,
          letter.key === null ? null : clean(letter.key),
          raw,
          text,
        ]),
      )
    }
    for (const b of bad) {
      const rowKey =
        mode === 'upsert'
          ? JSON.stringify(
              key.map((k) => b.row[k] ?? null),
              jsonReplacer,
            )
          : typeof b.row.key === 'string' || typeof b.row.key === 'number'
            ? String(b.row.key)
            : null
      lines.push(
        line([
          id,
          batch.batchId,
          operator,
          clean(b.error.message),
          b.error.code ?? null,
          b.error.detail === undefined ? null : clean(b.error.detail),
          null,
          null,
          rowKey === null ? null : clean(rowKey),
          null,
          JSON.stringify(b.row, jsonReplacer),
        ]),
      )
    }
    await copyIn(
      client,
      `COPY ${qualified(deadLetters)} (pipeline_id, batch_id, operator, reason, sqlstate, detail, source_partition, source_offset, key, raw, raw_text) FROM STDIN`,
      lines.length,
      (i) => lines[i]!,
    )
  }
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

/** Text columns cannot hold NUL characters. */
function clean(text: string): string {
  return text.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** The raw bytes as bytea, and as text when they are valid UTF-8 (most are JSON), for querying. */
function rawColumns(letter: DeadLetter): { raw: Buffer | null; text: string | null } {
  if (letter.raw === null) return { raw: null, text: null }
  if (typeof letter.raw === 'string') return { raw: null, text: clean(letter.raw) }
  try {
    const text = utf8.decode(letter.raw)
    return { raw: letter.raw, text: text.includes('\u0000') ? null : text }
  } catch {
    return { raw: letter.raw, text: null }
  }
}

type Decision = { kind: 'write' } | { kind: 'skip' } | { kind: 'conflict'; record: SourceRecord }

/**
 * What to do with a batch given the position the database holds. A replay of the committed batch (same or
 * lower id, every record before the stored position) is skipped; input that straddles the stored position
 * cannot be de-duplicated row by row and is refused; anything else is new.
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

function covers(stored: Readonly<Record<string, number>>, end: Positions): boolean {
  return Object.entries(end).every(([partition, offset]) => (stored[partition] ?? 0) >= offset)
}

/**
 * A PostgreSQL sink, exactly once: `.to(postgres({ table: 'page_metrics', mode: 'upsert', key: ['key',
 * 'window_start'], createTable: true }))`. Each batch's rows, its dead letters and the pipeline's position
 * commit in one transaction.
 */
export function postgres<T>(options: PostgresSinkOptions<T>): SinkSpec<T> {
  if (!options || typeof options.table !== 'string' || options.table.trim() === '')
    throw new UsageError('postgres(): a table is required, e.g. postgres({ table: "page_metrics" }).')
  const mode = options.mode ?? 'append'
  if (mode !== 'append' && mode !== 'upsert')
    throw new UsageError(`postgres(): mode must be 'append' or 'upsert', not ${JSON.stringify(mode)}.`)
  const onError = options.onError ?? 'dead-letter'
  if (onError !== 'dead-letter' && onError !== 'fail')
    throw new UsageError(
      `postgres(): onError must be 'dead-letter' or 'fail', not ${JSON.stringify(onError)}.`,
    )
  const key = [...(options.key ?? [])] as string[]
  if (mode === 'upsert' && key.length === 0)
    throw new UsageError('postgres(): upsert needs the key columns, e.g. key: ["key", "window_start"].')
  if (mode === 'append' && key.length > 0)
    throw new UsageError("postgres(): key is for mode 'upsert'; append writes every row.")
  const declared = new Map<string, string>()
  for (const [name, type] of Object.entries(options.columns ?? {}))
    if (typeof type === 'string') declared.set(name, checkTypeName(name, type))
  const table = parseTableName(options.table)
  const resolved: Resolved = {
    url: options.url,
    table,
    offsets: sibling(table, options.offsetsTable ?? 'sluice_offsets'),
    deadLetters: sibling(table, options.deadLetterTable ?? 'sluice_dead_letters'),
    mode,
    key,
    declared,
    createTable: options.createTable ?? false,
    onError,
  }
  return {
    type: 'postgres',
    // No URL here: it may hold a password, and describe() prints these.
    options: {
      table: displayName(table),
      mode,
      ...(key.length > 0 ? { key } : {}),
      createTable: resolved.createTable,
      onError,
      deadLetterTable: displayName(resolved.deadLetters),
    },
    create: () => new PostgresSinkWriter<T>(resolved),
  }
}
