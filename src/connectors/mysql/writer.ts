import type { Pool, PoolConnection, RowDataPacket } from 'mysql2/promise'
import mysql2 from 'mysql2/promise'
import { SluiceError, UsageError } from '../../errors.ts'
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
import { checkedChangelog } from '../sql/changelog.ts'
import { SQL_SINK_CONTRACT } from '../sql/contract.ts'
import {
  committedPosition,
  covers,
  decideReplay,
  mergePositions,
  NOTHING_STORED,
  type StoredPosition,
  sinkDeadLetter,
} from '../sql/index.ts'
import { BATCH_ISOLATION, MySqlChangelogStore } from './changelog-store.ts'
import { insertDeadLetters, keyOf, rejectedError } from './dead-letters.ts'
import { wrapError } from './errors.ts'
import { MySqlOffsets } from './offsets.ts'
import type { MySqlSettings } from './options.ts'
import { MySqlPartitionOffsets, PARTITIONS_SUFFIX } from './partition-offsets.ts'
import { type ParsedUrl, parseMySqlUrl, quoteId } from './sql.ts'
import { MySqlTable } from './table.ts'
import { insertRows, type Refused, type ServerLimits } from './write-rows.ts'

/** STRICT: a value too long or of the wrong type is an error, never silently truncated or zeroed. */
const SQL_MODE =
  'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'

interface Transaction {
  readonly conn: PoolConnection
  readonly batch: OutputBatch<unknown>
  /** The offsets row as locked at the start of the transaction. */
  readonly stored: StoredPosition
  /** The database holds this batch id already: commit() decides from the batch's records what to do. */
  deferred: boolean
}

/** Set at open(): the connection, the server's limits and what the sink knows of its tables. */
interface Opened {
  readonly url: ParsedUrl
  readonly pool: Pool
  readonly limits: ServerLimits
  readonly offsets: MySqlOffsets
  readonly table: MySqlTable
  /** Set when this process is one of several instances sharing the source's partitions (open()'s instance). */
  readonly shared: Shared | undefined
}

/** What a sink that is one of several instances of its pipeline keeps. */
interface Shared {
  readonly offsets: MySqlPartitionOffsets
  readonly instance: string
  readonly changelog: MySqlChangelogStore
  /** The positions the pipeline's single offsets row held at open (it ran as one process before). */
  readonly single: Positions
  /**
   * Set before each batch's transaction (BATCH_ISOLATION); undefined where the binary log is statement-based,
   * which refuses writes at READ COMMITTED.
   */
  readonly isolation: string | undefined
}

/**
 * Exactly-once into MySQL or MariaDB: each batch is one transaction holding its rows, its dead letters and
 * the pipeline's position (its row of `sluice_offsets`), so after a crash the database itself says whether
 * the batch landed. The offsets row is locked first in each transaction, so a second instance of the same
 * pipeline waits and then sees the batch as done instead of writing it twice. Instances that share the
 * source's partitions (open()'s instance) keep a position per partition instead (MySqlPartitionOffsets), fence
 * each other on those rows, and write a keyed pipeline's state changes in the same transaction
 * (MySqlChangelogStore).
 */
export class MySqlSinkWriter<T> implements SinkWriter<T> {
  readonly description: string
  readonly #settings: MySqlSettings
  #url: ParsedUrl | undefined
  #pool: Pool | undefined
  #opened: Opened | undefined
  #pipelineId = ''
  /** Session settings beyond the SQL mode (a shared instance's idle limit). */
  #sessionExtra = ''
  readonly #initialized = new WeakSet<object>()
  #tx: Transaction | undefined
  /** The rows of the batch being written that the table cannot take, found before its transaction. */
  #skip: { readonly batch: OutputBatch<unknown>; readonly skip: ReadonlyMap<number, string> } | undefined
  /** The rows of the last batch written that the sink or the server refused. */
  #refused: { readonly batch: OutputBatch<unknown>; readonly rows: readonly Refused[] } | undefined

  constructor(settings: MySqlSettings) {
    this.#settings = settings
    this.description = `mysql ${settings.table} (${settings.mode})`
  }

  get #target(): string {
    return this.#opened?.table.target ?? this.#settings.table
  }

  async open(context: SinkOpenContext): Promise<SinkContract> {
    const urlText = this.#settings.url ?? process.env.MYSQL_URL
    if (!urlText)
      throw new UsageError(
        'mysql(): no url given and MYSQL_URL is not set; expected mysql://user:password@host:3306/database.',
      )
    const url = parseMySqlUrl(urlText)
    this.#url = url
    this.#pipelineId = context.pipelineId
    const pool = mysql2.createPool({
      ...url.pool,
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
    this.#pool = pool
    const conn = await this.#connection('connecting')
    try {
      const [info] = await conn.query<RowDataPacket[]>(
        'SELECT VERSION() AS version, @@max_allowed_packet AS packet, @@log_bin AS logBin, @@binlog_format AS binlogFormat',
      )
      const version = String(info[0]?.['version'] ?? '')
      const maxPacket = Number(info[0]?.['packet'] ?? 16 * 1024 * 1024)
      const limits: ServerLimits = {
        maxRows: this.#settings.maxRows,
        maxPacket,
        maxStatementBytes: Math.max(64 * 1024, Math.min(maxPacket - 64 * 1024, 8 * 1024 * 1024)),
      }
      // An instance frozen inside a transaction (a stopped process, a VM paused) would hold its partitions'
      // row locks, and with them every instance that takes its partitions over, until it wakes: MariaDB ends a
      // session idle that long inside a transaction instead (rolling it back; the pool drops the closed
      // connection). A live batch is never idle that long between its statements. MySQL has no such limit
      // (its wait_timeout would also end pooled sessions idle between batches): there the others wait for
      // innodb_lock_wait_timeout and retry.
      if (context.instance !== undefined && /mariadb/i.test(version)) {
        this.#sessionExtra = ', idle_transaction_timeout = 30'
        await conn.query('SET SESSION idle_transaction_timeout = 30')
      }
      // Binary and NO PAD, so keys compare as JavaScript strings do: 'a', 'A' and 'a ' are three keys.
      const keyCollation = /mariadb/i.test(version)
        ? 'utf8mb4_nopad_bin'
        : /^(?:[89]|\d{2,})\./.test(version)
          ? 'utf8mb4_0900_bin'
          : 'utf8mb4_bin'
      const offsets = new MySqlOffsets(
        this.#settings.offsetsTable,
        this.#settings.deadLetterTable,
        this.#pipelineId,
      )
      await offsets.ensure(conn, url.database, keyCollation)
      const table = new MySqlTable(this.#settings, url.database, keyCollation)
      await table.open(conn, context.rowType)
      let shared: Shared | undefined
      if (context.instance !== undefined) {
        const partitions = new MySqlPartitionOffsets(
          this.#settings.offsetsTable,
          this.#pipelineId,
          this.description,
        )
        await partitions.ensure(conn, url.database, keyCollation)
        const single = (await offsets.read(conn)).positions
        await partitions.adopt(conn, single)
        const statementLog =
          Number(info[0]?.['logBin'] ?? 0) === 1 && String(info[0]?.['binlogFormat']) === 'STATEMENT'
        shared = {
          offsets: partitions,
          instance: context.instance,
          changelog: new MySqlChangelogStore((what) => this.#connection(what), url.database, keyCollation),
          single,
          isolation: statementLog ? undefined : BATCH_ISOLATION,
        }
      }
      this.#opened = { url, pool, limits, offsets, table, shared }
    } catch (error) {
      conn.destroy()
      throw wrapError(error, `mysql(): opening ${url.redacted}`)
    }
    conn.release()
    const shared = this.#opened.shared
    if (!shared) return SQL_SINK_CONTRACT
    return {
      ...SQL_SINK_CONTRACT,
      // Keyed state travels in the database, in the same transaction as the rows and the positions.
      changelog: checkedChangelog(shared.changelog, {
        pipelineId: this.#pipelineId,
        factory: 'mysql',
        target: this.#target,
        offsets: `${quoteId(url.database)}.${quoteId(this.#settings.offsetsTable)}`,
        partitions: `${quoteId(url.database)}.${quoteId(`${this.#settings.offsetsTable}${PARTITIONS_SUFFIX}`)}`,
        single: shared.single,
      }),
      partitionPositions: {
        read: async (partitions) => {
          const conn = await this.#connection('reading the committed positions')
          try {
            const positions = await shared.offsets.read(conn, partitions)
            conn.release()
            return positions
          } catch (error) {
            conn.destroy()
            throw wrapError(error, `mysql(): reading the committed positions of ${this.#pipelineId}`)
          }
        },
      },
    }
  }

  async write(batch: OutputBatch<T>): Promise<void> {
    await this.#rollback()
    this.#refused = undefined
    const skip = await this.#prepareTable(batch.rows)
    this.#skip = { batch, skip }
    const conn = await this.#connection(`writing batch ${batch.batchId}`)
    try {
      const isolation = this.#opened!.shared?.isolation
      if (isolation) await conn.query(isolation)
      await conn.query('START TRANSACTION')
      if (this.#opened!.shared) {
        // Instances sharing the partitions fence each other per partition, at commit (they have no batch ids
        // in common): only a single process locks the pipeline's row.
        this.#tx = { conn, batch, stored: NOTHING_STORED, deferred: false }
        await this.#writeBatch(conn, batch)
        return
      }
      // Locks the pipeline's offsets row: a second instance of the same pipeline waits instead of interleaving.
      const stored = await this.#opened!.offsets.read(conn, true)
      const tx: Transaction = { conn, batch, stored, deferred: stored.batchId >= batch.batchId }
      this.#tx = tx
      // The database holds this batch id already (a replay the runtime did not ask hasCommitted about):
      // whether it is the same input is decided in commit(), which sees the batch's records.
      if (!tx.deferred) await this.#writeBatch(conn, batch)
    } catch (error) {
      if (!this.#tx) this.#tx = { conn, batch, stored: NOTHING_STORED, deferred: true }
      await this.#rollback()
      throw wrapError(error, `mysql(): writing batch ${batch.batchId} to ${this.#target}`)
    }
  }

  async commit(batch: OutputBatch<T>, context: SinkCommitContext): Promise<void> {
    if (this.#tx?.batch !== batch) await this.write(batch)
    const tx = this.#tx!
    const { offsets, url, shared } = this.#opened!
    try {
      if (shared) {
        if (!context.expected) throw new Error('internal: a scaled-out commit without the expected positions')
        const versions = await shared.offsets.commit(
          tx.conn,
          context.records,
          context.expected,
          context.next,
          shared.instance,
          context.heldPartitions,
        )
        // After the positions' rows are locked and checked: a fenced instance writes no state.
        await shared.changelog.write(tx.conn, batch.changelog ?? [], this.#opened!.limits.maxStatementBytes)
        await tx.conn.query('COMMIT')
        this.#tx = undefined
        tx.conn.release()
        shared.offsets.committed(versions)
        return
      }
      if ((batch.changelog?.length ?? 0) > 0)
        throw new Error('internal: state changes for a MariaDB/MySQL sink that runs as one instance')
      const decision = decideReplay(tx.stored, batch.batchId, context.records)
      if (decision.kind === 'conflict')
        throw offsets.conflict(tx.stored, batch.batchId, decision.record, url.database, this.#target)
      if (decision.kind === 'skip') {
        await this.#rollback()
      } else {
        if (tx.deferred) await this.#writeBatch(tx.conn, batch)
        const positions = mergePositions(tx.stored.positions, context.next)
        await offsets.store(tx.conn, { batchId: batch.batchId, positions })
        await tx.conn.query('COMMIT')
        this.#tx = undefined
        tx.conn.release()
      }
    } catch (error) {
      await this.#rollback()
      // A COMMIT whose answer was lost is ambiguous: the restarted run asks the database (hasCommitted).
      throw wrapError(error, `mysql(): committing batch ${batch.batchId} to ${this.#target}`)
    }
  }

  async abort(): Promise<void> {
    await this.#rollback()
  }

  async hasCommitted(batch: { readonly batchId: number; readonly end: Positions }): Promise<boolean> {
    const stored = await this.#stored()
    return stored.batchId >= batch.batchId && covers(stored.positions, batch.end)
  }

  async committedPosition(): Promise<CommittedPosition | undefined> {
    return committedPosition(await this.#stored())
  }

  async close(): Promise<void> {
    await this.#rollback()
    await this.#pool?.end().catch(() => {})
    this.#pool = undefined
  }

  /** The pipeline's committed batch and positions as the database holds them. */
  async #stored(): Promise<StoredPosition> {
    const conn = await this.#connection('reading the offsets')
    try {
      const stored = await this.#opened!.offsets.read(conn)
      conn.release()
      return stored
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
        await conn.query(`SET SESSION sql_mode = '${SQL_MODE}', time_zone = '+00:00'${this.#sessionExtra}`)
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

  /**
   * Before the batch's transaction (DDL commits implicitly): new fields against the table, and the rows it
   * cannot take (by index, with the reason).
   */
  async #prepareTable(rows: readonly T[]): Promise<ReadonlyMap<number, string>> {
    const table = this.#opened!.table
    const conn = await this.#connection('preparing the table')
    let skip: ReadonlyMap<number, string>
    try {
      skip = await table.prepare(conn, rows)
    } catch (error) {
      conn.destroy()
      throw wrapError(error, `mysql(): preparing ${this.#target}`)
    }
    conn.release()
    return skip
  }

  rejected(batch: OutputBatch<T>): readonly DeadLetter[] {
    const refused = this.#refused
    if (refused?.batch !== batch) return []
    return refused.rows.map((r) => {
      const row = batch.rows[r.index]
      return sinkDeadLetter('sink', r.reason, row, keyOf(row, this.#settings.key))
    })
  }

  /** Inside the transaction: the rows, then the dead letters (the pipeline's and the refused rows). */
  async #writeBatch(conn: PoolConnection, batch: OutputBatch<unknown>): Promise<void> {
    const { table, limits } = this.#opened!
    const refused: Refused[] = []
    const skip = this.#skip?.batch === batch ? this.#skip.skip : new Map<number, string>()
    await insertRows(conn, table, limits, batch.rows, refused, skip)
    refused.sort((a, b) => a.index - b.index)
    this.#refused = { batch, rows: refused }
    if (refused.length > 0 && this.#settings.onError === 'fail')
      throw rejectedError(batch, refused, this.#target)
    await insertDeadLetters(conn, batch, refused, {
      table: this.#settings.deadLetterTable,
      pipelineId: this.#pipelineId,
      key: this.#settings.key,
      maxStatementBytes: limits.maxStatementBytes,
    })
  }
}
