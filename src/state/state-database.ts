import { dirname } from 'node:path'
import { DatabaseSync, type StatementSync } from 'node:sqlite'
import { CheckpointCorruptError, CheckpointInUseError } from '../checkpoint/errors.ts'

/** One stored entry: its encoded value and the event time it expires by (null: never). */
export interface StoredEntry {
  readonly key: string
  readonly time: number | null
  readonly value: string
}

/** What the database needs of each operator's state around a commit. */
export interface StateStore {
  /** The operator id: the store's rows are filed under it. */
  readonly id: string
  /** Live entries, in memory and on disk. */
  readonly size: number
  /** Writes what changed in memory since the last write into the open transaction. */
  writeChanges(): void
  /**
   * After each batch: when changes kept in memory exceed the cache bound, writes them into the open
   * transaction and trims the cache, so memory stays bounded however long the transaction stays open.
   */
  afterBatch(): void
  /** After the transaction committed: trims the in-memory cache to its bound. */
  afterCommit(): void
  /** After the store was rolled back or reopened: forgets what memory holds and recounts. */
  afterRestore(): void
}

/** One row written or deleted (value null), as a changelog carries it. */
export interface StateChange {
  readonly op: string
  readonly key: string
  readonly time: number | null
  readonly value: string | null
}

/** Where one operator's state lives: its rows in the store, and how many it may keep decoded in memory. */
export interface StateSlot {
  readonly table: StateTable
  readonly cacheEntries: number
}

/** SQLite's result code when another connection holds the write lock. */
const SQLITE_BUSY = 5

/**
 * The store's format, kept in SQLite's user_version (0 in a store written before it was set): 1 files each
 * operator's rows under its stable step id; 0 under the positional id of checkpoint format 1 (see
 * Checkpoint.open, which renames them once).
 */
export const STATE_FORMAT = 1

/** Prefixes rows while refileOperators moves them: '/' is in no step id. */
const PARKED = 'refiling/'

/** The per-batch progress stored with the state. */
export type EventTimes = Record<string, number>

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS entries (
    op TEXT NOT NULL, key TEXT NOT NULL, time REAL, value TEXT NOT NULL, PRIMARY KEY (op, key)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS entries_by_time ON entries (op, time) WHERE time IS NOT NULL;
  CREATE TABLE IF NOT EXISTS batches (batch INTEGER PRIMARY KEY, event_times TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
`

/**
 * The durable local store of a pipeline's keyed state: one SQLite database in the checkpoint directory
 * (`state.db`), shared by every stateful operator, with an in-memory cache in front of it per operator
 * (KeyedState, WindowState). Replaces per-batch JSON delta and snapshot files: the changes since the last
 * commit are one transaction, so a batch's state is on disk exactly when its commit returned, for every
 * operator at once, and no full snapshot of a large state is ever rewritten.
 *
 * A transaction opens when a batch starts and commits after the sink committed a batch (see Checkpoint), so
 * the store never holds a batch the sink may not have: nothing ever has to be undone. It commits about once a
 * second, not every batch, so a key changed by many batches is written once; after a crash the store is
 * behind the sink by the batches since, and recovery rebuilds their state by replaying them without writing.
 */
export class StateDatabase {
  readonly location: string
  readonly #db: DatabaseSync
  readonly #statements = new Map<string, StatementSync>()
  #batch: number | undefined
  #latest: number | undefined
  #onChange: ((change: StateChange) => void) | undefined

  private constructor(location: string, db: DatabaseSync) {
    this.location = location
    this.#db = db
    this.#latest = this.#readLatest()
  }

  /** Opens (creating) the store at `file`, or an in-memory one (the test driver). */
  static open(file: string | ':memory:'): StateDatabase {
    let db: DatabaseSync
    try {
      db = new DatabaseSync(file)
      const fresh =
        db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'entries'").get() ===
        undefined
      db.exec('PRAGMA journal_mode = WAL')
      // FULL: a commit returns after the WAL is fsync'ed, so the batches it covers survive a power cut and
      // their offsets entries may be pruned.
      db.exec('PRAGMA synchronous = FULL')
      db.exec('PRAGMA cache_size = -16384') // 16 MiB of pages; the decoded cache lives in the operators
      db.exec('PRAGMA busy_timeout = 0')
      db.exec(SCHEMA)
      if (fresh) db.exec(`PRAGMA user_version = ${STATE_FORMAT}`)
    } catch (error) {
      throw new CheckpointCorruptError(
        `Cannot open the state store ${file}: ${error instanceof Error ? error.message : String(error)}.`,
        error,
      )
    }
    return new StateDatabase(file, db)
  }

  /** The newest batch whose state is committed, if any. */
  get latestBatch(): number | undefined {
    return this.#latest
  }

  /** The format the rows are filed in (STATE_FORMAT, or 0 for rows under positional step ids). */
  get format(): number {
    return (this.#statement('PRAGMA user_version').get() as { user_version: number }).user_version
  }

  /**
   * Files the rows of each operator in `renames` (id then → id now) under its id now and marks the store
   * STATE_FORMAT, in one durable transaction: a crash leaves the old store or the renamed one, never half,
   * and a store already marked is never renamed twice. An id now may be another operator's id then
   * (`window-2` was the window at position 2, is now the second window), so rows move through a prefix no id
   * can have (PARKED).
   */
  refileOperators(renames: ReadonlyMap<string, string>): void {
    if (this.#batch !== undefined) throw new Error('internal: refileOperators during a batch')
    this.#db.exec('BEGIN IMMEDIATE')
    try {
      const park = this.#statement('UPDATE entries SET op = ? || op WHERE op = ?')
      const place = this.#statement('UPDATE entries SET op = ? WHERE op = ? || ?')
      for (const from of renames.keys()) park.run(PARKED, from)
      for (const [from, to] of renames) place.run(to, PARKED, from)
      this.#db.exec(`PRAGMA user_version = ${STATE_FORMAT}`)
      this.#db.exec('COMMIT')
    } catch (error) {
      this.#db.exec('ROLLBACK')
      throw error
    }
  }

  /**
   * Batch `batchId` starts: opens a transaction unless one is open. A transaction spans the batches since the
   * last commit (Checkpoint decides how often to commit state).
   */
  begin(batchId: number): void {
    if (this.#batch === undefined) {
      try {
        this.#db.exec('BEGIN IMMEDIATE')
      } catch (error) {
        if ((error as { errcode?: number }).errcode === SQLITE_BUSY)
          throw new CheckpointInUseError(dirname(this.location), error)
        throw error
      }
    }
    this.#batch = batchId
  }

  /**
   * Writes every store's remaining changes and the event-time progress after batch `batchId`, then commits
   * durably: the state after `batchId`, for every batch since the last commit.
   */
  commit(
    batchId: number,
    stores: Iterable<StateStore>,
    eventTimes: EventTimes,
    meta: Readonly<Record<string, string>> = {},
  ): void {
    if (this.#batch === undefined) this.begin(batchId)
    const list = [...stores]
    for (const store of list) store.writeChanges()
    this.#statement('INSERT OR REPLACE INTO batches (batch, event_times) VALUES (?, ?)').run(
      batchId,
      JSON.stringify(eventTimes),
    )
    for (const [name, value] of Object.entries(meta))
      this.#statement('INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)').run(name, value)
    this.#statement('DELETE FROM batches WHERE batch < ?').run(batchId)
    this.#db.exec('COMMIT')
    this.#batch = undefined
    this.#latest = batchId
    for (const store of list) store.afterCommit()
  }

  /**
   * Discards uncommitted batches and returns the event-time progress committed with `batchId`, which must be
   * the store's newest batch (-1: the empty state before batch 0). Stores must then call afterRestore().
   */
  restore(batchId: number): EventTimes {
    if (this.#batch !== undefined) {
      this.#db.exec('ROLLBACK')
      this.#batch = undefined
    }
    const latest = this.#latest
    if (latest !== batchId && !(batchId === -1 && latest === undefined))
      throw new CheckpointCorruptError(
        `The state store ${this.location} holds the state after batch ${latest ?? '(none)'}, but the checkpoint ` +
          `needs the state after batch ${batchId}. The store was replaced or deleted: start from a new checkpoint location.`,
      )
    const row = this.#statement('SELECT event_times FROM batches WHERE batch = ?').get(batchId) as
      | { event_times: string }
      | undefined
    return row ? (JSON.parse(row.event_times) as EventTimes) : {}
  }

  /** A value committed with commit(…, meta), if any. */
  meta(name: string): string | undefined {
    const row = this.#statement('SELECT value FROM meta WHERE name = ?').get(name) as
      | { value: string }
      | undefined
    return row?.value
  }

  /** Bytes the store takes on disk (its pages), for progress reports. */
  sizeBytes(): number {
    const pages = this.#statement('PRAGMA page_count').get() as { page_count: number }
    const size = this.#statement('PRAGMA page_size').get() as { page_size: number }
    return pages.page_count * size.page_size
  }

  close(): void {
    if (!this.#db.isOpen) return
    if (this.#batch !== undefined) this.#db.exec('ROLLBACK')
    this.#batch = undefined
    this.#db.close()
  }

  /**
   * Reports every row written or deleted from now on (undefined: stop), so that a task can send its state's
   * changes to its changelog topics in the same transaction as its output.
   */
  captureChanges(onChange: ((change: StateChange) => void) | undefined): void {
    this.#onChange = onChange
  }

  /** Whether writes are being reported (StateTable asks before work only a report needs). */
  get capturing(): boolean {
    return this.#onChange !== undefined
  }

  /** A row written or deleted (internal to the state package). */
  changed(op: string, key: string, time: number | null, value: string | null): void {
    this.#onChange?.({ op, key, time, value })
  }

  /**
   * Deletes every row and every committed batch, durably: the store starts over empty (a task whose local
   * copy is stale, before it restores from its changelog).
   */
  clear(): void {
    if (this.#batch !== undefined) throw new Error('internal: clear() during a batch')
    this.#db.exec('BEGIN IMMEDIATE')
    this.#db.exec('DELETE FROM entries')
    this.#db.exec('DELETE FROM batches')
    this.#db.exec('DELETE FROM meta')
    this.#db.exec('COMMIT')
    this.#latest = undefined
  }

  /** The rows of one operator. */
  table(op: string): StateTable {
    return new StateTable(op, this)
  }

  /** A cached prepared statement (internal to the state package). */
  statement(sql: string): StatementSync {
    return this.#statement(sql)
  }

  /** Throws unless a batch is open: state is only written inside one. */
  assertWriting(op: string): void {
    if (this.#batch === undefined)
      throw new Error(`internal: state of ${op} written outside a batch (call begin() first)`)
  }

  #statement(sql: string): StatementSync {
    let statement = this.#statements.get(sql)
    if (statement === undefined) {
      statement = this.#db.prepare(sql)
      this.#statements.set(sql, statement)
    }
    return statement
  }

  #readLatest(): number | undefined {
    const row = this.#statement('SELECT max(batch) AS batch FROM batches').get() as { batch: number | null }
    return row.batch ?? undefined
  }
}

/** One operator's rows; writes go into the open batch's transaction. */
export class StateTable {
  readonly op: string
  readonly #database: StateDatabase

  constructor(op: string, database: StateDatabase) {
    this.op = op
    this.#database = database
  }

  get(key: string): StoredEntry | undefined {
    return this.#database
      .statement('SELECT key, time, value FROM entries WHERE op = ? AND key = ?')
      .get(this.op, key) as StoredEntry | undefined
  }

  count(): number {
    const row = this.#database.statement('SELECT count(*) AS n FROM entries WHERE op = ?').get(this.op) as {
      n: number
    }
    return row.n
  }

  put(key: string, time: number | null, value: string): void {
    this.#database.assertWriting(this.op)
    this.#database
      .statement('INSERT OR REPLACE INTO entries (op, key, time, value) VALUES (?, ?, ?, ?)')
      .run(this.op, key, time, value)
    this.#database.changed(this.op, key, time, value)
  }

  delete(key: string): void {
    this.#database.assertWriting(this.op)
    this.#database.statement('DELETE FROM entries WHERE op = ? AND key = ?').run(this.op, key)
    this.#database.changed(this.op, key, null, null)
  }

  /** Deletes every row whose time is exactly `time` (a whole window). */
  deleteAt(time: number): void {
    this.#database.assertWriting(this.op)
    if (this.#database.capturing)
      for (const row of this.at(time)) this.#database.changed(this.op, row.key, null, null)
    this.#database.statement('DELETE FROM entries WHERE op = ? AND time = ?').run(this.op, time)
  }

  /** Deletes the rows whose time is below `bound` (or at it, when `inclusive`) and returns their keys. */
  deleteExpiring(bound: number, inclusive: boolean): string[] {
    this.#database.assertWriting(this.op)
    const op = inclusive ? '<=' : '<'
    const keys = this.#database
      .statement(`SELECT key FROM entries WHERE op = ? AND time ${op} ?`)
      .all(this.op, bound) as unknown as { key: string }[]
    if (keys.length === 0) return []
    this.#database.statement(`DELETE FROM entries WHERE op = ? AND time ${op} ?`).run(this.op, bound)
    for (const row of keys) this.#database.changed(this.op, row.key, null, null)
    return keys.map((row) => row.key)
  }

  /** Rows whose time is below `bound` (or at it, when `inclusive`), oldest first. */
  expiring(bound: number, inclusive: boolean): StoredEntry[] {
    const sql = `SELECT key, time, value FROM entries WHERE op = ? AND time ${inclusive ? '<=' : '<'} ? ORDER BY time, key`
    return this.#database.statement(sql).all(this.op, bound) as unknown as StoredEntry[]
  }

  /** Rows whose time is exactly `time`. */
  at(time: number): StoredEntry[] {
    return this.#database
      .statement('SELECT key, time, value FROM entries WHERE op = ? AND time = ?')
      .all(this.op, time) as unknown as StoredEntry[]
  }

  /** Every row, in key order. */
  all(): IterableIterator<StoredEntry> {
    return this.#database
      .statement('SELECT key, time, value FROM entries WHERE op = ? ORDER BY key')
      .iterate(this.op) as IterableIterator<StoredEntry>
  }

  /** The distinct times, each with its row count and one of its values (windows rebuild their list from them). */
  times(): { time: number; rows: number; sample: string }[] {
    return this.#database
      .statement(
        'SELECT time, count(*) AS rows, min(value) AS sample FROM entries WHERE op = ? AND time IS NOT NULL GROUP BY time',
      )
      .all(this.op) as unknown as { time: number; rows: number; sample: string }[]
  }
}
