import pg from 'pg'
import { UsageError } from '../../errors.ts'
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
import { PostgresChangelogStore } from './changelog-store.ts'
import { deadLetterTableSql, rowKey, writeDeadLetters } from './dead-letters.ts'
import { wrapError } from './errors.ts'
import { displayName, quoteIdent } from './identifiers.ts'
import { PostgresOffsets } from './offsets.ts'
import type { PostgresSettings } from './options.ts'
import { PostgresPartitionOffsets } from './partition-offsets.ts'
import { PostgresTable } from './table.ts'
import { type BadRow, lastPerKey, linesOf, rowError, writeRows } from './write-rows.ts'

interface Transaction<T> {
  readonly client: pg.PoolClient
  readonly batch: OutputBatch<T>
  readonly onError: (error: Error) => void
  stored: StoredPosition
  /** The rows are not written yet: the database said this batch may be committed already (see commit). */
  deferred: boolean
}

/** What a sink that is one of several instances of its pipeline keeps. */
interface Shared {
  readonly offsets: PostgresPartitionOffsets
  readonly instance: string
  readonly changelog: PostgresChangelogStore
  /** The positions the pipeline's single offsets row held at open (it ran as one process before). */
  readonly single: Positions
}

/**
 * Exactly-once into PostgreSQL: each batch is one transaction holding its rows, its dead letters and the
 * pipeline's position (a row of `sluice_offsets`), so after a crash the database itself says whether the
 * batch landed. The offsets row is locked first in each transaction, so a second instance of the same
 * pipeline waits and then sees the batch as done instead of writing it twice. Instances that share the
 * source's partitions (open()'s instance) keep a position per partition instead, and a keyed pipeline's
 * state changes in the same transaction (PostgresChangelogStore).
 */
export class PostgresSinkWriter<T> implements SinkWriter<T> {
  readonly description: string
  readonly #settings: PostgresSettings
  #pool: pg.Pool | undefined
  #pipelineId = ''
  #offsets: PostgresOffsets | undefined
  #table: PostgresTable | undefined
  #tx: Transaction<T> | undefined
  /** Set when this process is one of several instances sharing the source's partitions (open()'s instance). */
  #shared: Shared | undefined
  /** The rows of the last batch written that the sink or the table refused. */
  #refused: { readonly batch: OutputBatch<T>; readonly bad: BadRow[] } | undefined

  constructor(settings: PostgresSettings) {
    this.#settings = settings
    this.description = `postgres ${displayName(settings.table)} (${settings.mode})`
  }

  get #name(): string {
    return displayName(this.#settings.table)
  }

  async open(context: SinkOpenContext): Promise<SinkContract> {
    this.#pipelineId = context.pipelineId
    const url = this.#settings.url ?? process.env.DATABASE_URL
    if (!url)
      throw new UsageError(
        `postgres sink for ${this.#name}: no database given; pass url or set DATABASE_URL (postgres://user:password@host:5432/db).`,
      )
    const pool = new pg.Pool({
      connectionString: url,
      max: 2,
      connectionTimeoutMillis: 10_000,
      // An instance frozen inside a transaction (a stopped process, a VM paused) would hold its rows' locks,
      // and with them every instance that takes its partitions over, until it wakes: the server ends such a
      // session instead. A live batch is never idle that long between its statements.
      ...(context.instance !== undefined ? { idle_in_transaction_session_timeout: 30_000 } : {}),
    })
    // An idle connection dropped by the server (a restart) is replaced on next use; a query that meets it fails
    // and the pipeline restarts from its checkpoint. Without a listener the process would crash.
    pool.on('error', () => {})
    this.#pool = pool
    try {
      const { table, offsets, deadLetters, createTable } = this.#settings
      const target = new PostgresTable(this.#settings, pool)
      this.#table = target
      this.#offsets = new PostgresOffsets(offsets, this.#pipelineId)
      if (createTable) {
        for (const schema of new Set([table.schema, offsets.schema, deadLetters.schema]))
          if (schema !== undefined) await target.ddl(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`)
      }
      await target.ddl(this.#offsets.createSql)
      await target.ddl(deadLetterTableSql(this.#settings))
      await this.#offsets.ensureRow(pool)
      if (context.instance !== undefined) {
        const shared = new PostgresPartitionOffsets(offsets, this.#pipelineId, this.description)
        await target.ddl(shared.createSql)
        await target.ddl(shared.upgradeSql)
        const single = (await this.#offsets.read(pool))?.positions ?? {}
        await shared.adopt(pool, single)
        const changelog = new PostgresChangelogStore(pool, offsets)
        this.#shared = { offsets: shared, instance: context.instance, changelog, single }
      }
      await target.open(context.rowType)
    } catch (error) {
      throw wrapError(error, `opening ${this.#name}`)
    }
    const shared = this.#shared
    if (!shared) return SQL_SINK_CONTRACT
    return {
      ...SQL_SINK_CONTRACT,
      // Keyed state travels in the database, in the same transaction as the rows and the positions.
      changelog: checkedChangelog(shared.changelog, {
        pipelineId: this.#pipelineId,
        factory: 'postgres',
        target: this.#name,
        offsets: displayName(this.#settings.offsets),
        partitions: `${displayName(this.#settings.offsets)}_partitions`,
        single: shared.single,
      }),
      partitionPositions: {
        read: async (partitions) => {
          try {
            return await shared.offsets.read(pool, partitions)
          } catch (error) {
            throw wrapError(error, `reading the committed positions of ${this.#pipelineId}`)
          }
        },
      },
    }
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
    const tx: Transaction<T> = { client, batch, onError, stored: NOTHING_STORED, deferred: false }
    this.#tx = tx
    try {
      await client.query('BEGIN')
      // Instances sharing the partitions fence each other per partition, at commit (they have no batch ids
      // in common): only a single process locks the pipeline's row.
      if (this.#shared) {
        await this.#writeBatch(client, batch)
        return
      }
      tx.stored = await this.#offsets!.lock(client)
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
      const shared = this.#shared
      if (shared) {
        if (!context.expected) throw new Error('internal: a scaled-out commit without the expected positions')
        const versions = await shared.offsets.commit(
          current.client,
          context.records,
          context.expected,
          context.next,
          shared.instance,
          context.heldPartitions,
        )
        // After the positions' rows are locked and checked: a fenced instance writes no state.
        await shared.changelog.write(current.client, batch.changelog ?? [])
        await current.client.query('COMMIT')
        shared.offsets.committed(versions)
        this.#release(current)
        return
      }
      if ((batch.changelog?.length ?? 0) > 0)
        throw new Error('internal: state changes for a PostgreSQL sink that runs as one instance')
      const decision = decideReplay(current.stored, batch.batchId, context.records)
      if (decision.kind === 'conflict')
        throw this.#offsets!.conflict(current.stored, batch.batchId, decision.record, this.#name)
      if (decision.kind === 'skip') {
        await this.#rollback()
      } else {
        if (current.deferred) await this.#writeBatch(current.client, batch)
        const positions = mergePositions(current.stored.positions, context.next)
        await this.#offsets!.store(current.client, { batchId: batch.batchId, positions })
        await current.client.query('COMMIT')
        this.#release(current)
      }
    } catch (error) {
      await this.#rollback()
      // A COMMIT whose answer was lost is ambiguous: the retry asks the database (hasCommitted).
      throw wrapError(error, `committing batch ${batch.batchId} to ${this.#name}`)
    }
  }

  async abort(): Promise<void> {
    await this.#rollback()
  }

  async hasCommitted(batch: { readonly batchId: number; readonly end: Positions }): Promise<boolean> {
    const stored = await this.#readStored()
    return stored !== undefined && stored.batchId >= batch.batchId && covers(stored.positions, batch.end)
  }

  async committedPosition(): Promise<CommittedPosition | undefined> {
    return committedPosition(await this.#readStored())
  }

  async close(): Promise<void> {
    await this.#rollback()
    const pool = this.#pool
    this.#pool = undefined
    await pool?.end().catch(() => {})
  }

  async #readStored(): Promise<StoredPosition | undefined> {
    try {
      return await this.#offsets!.read(this.#pool!)
    } catch (error) {
      throw wrapError(error, `reading the committed position of ${this.#pipelineId}`)
    }
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

  /**
   * Inside the transaction: the rows, then the dead letters (the pipeline's, the rows the sink refused
   * itself and the rows the table rejected).
   */
  async #writeBatch(client: pg.ClientBase, batch: OutputBatch<T>): Promise<void> {
    const settings = this.#settings
    const { lines, bad } = linesOf(batch)
    this.#refused = { batch, bad }
    if (lines.length > 0) {
      const prepared = await this.#table!.prepare(lines)
      bad.push(...prepared.bad)
      if (bad.length > 0 && settings.onError === 'fail')
        throw rowError(settings, bad.sort((a, b) => a.index - b.index)[0]!, batch.batchId)
      const good = settings.mode === 'upsert' ? lastPerKey(prepared.lines, settings.key) : prepared.lines
      if (good.length > 0)
        bad.push(...(await writeRows(client, good, prepared.columns, batch.batchId, settings)))
    } else if (bad.length > 0 && settings.onError === 'fail') throw rowError(settings, bad[0]!, batch.batchId)
    bad.sort((a, b) => a.index - b.index)
    if (bad.length > 0 || batch.deadLetters.length > 0)
      await writeDeadLetters(client, batch, bad, settings, this.#pipelineId)
  }

  rejected(batch: OutputBatch<T>): readonly DeadLetter[] {
    const refused = this.#refused
    if (refused?.batch !== batch) return []
    const operator = `sink:${this.#name}`
    return refused.bad.map((b) => sinkDeadLetter(operator, b.error.message, b.row, rowKey(b, this.#settings)))
  }
}
