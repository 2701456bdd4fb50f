import { createHash } from 'node:crypto'
import type { PoolConnection, RowDataPacket } from 'mysql2/promise'
import { type ChangelogOffsets, type ChangelogRecord, changelogKey } from '../../contracts/changelog.ts'
import { SluiceError, UsageError } from '../../errors.ts'
import {
  CHANGELOG_ENDS_TABLE,
  CHANGELOG_TABLE,
  type ChangelogPartition,
  changelogPartitionsError,
  lastChanges,
  type SqlChangelogStore,
} from '../sql/changelog.ts'
import { MySqlError, wrapError } from './errors.ts'
import { describeTable } from './schema.ts'
import { quoteId } from './sql.ts'

/** Rows a restore reads at a time from one changelog partition. */
const PAGE_ROWS = 20_000
/** Tombstones per DELETE: their hashes take about 70 bytes each in the statement. */
const DELETE_KEYS = 10_000

/**
 * What a scaled-out instance sets before each batch's transaction: READ COMMITTED, so that its writes lock the
 * rows they touch and not the gaps beside them. Under REPEATABLE READ, deleting a state key that is not there
 * (set and expired within one batch) of an instance's last changelog partition locks the gap up to the next
 * partition's first key, where another instance then waits to insert until the first commits (or deadlocks).
 */
export const BATCH_ISOLATION = 'SET TRANSACTION ISOLATION LEVEL READ COMMITTED'

/** A connection of the sink's pool, its session set up (see MySqlSinkWriter). */
export type Connect = (what: string) => Promise<PoolConnection>

/**
 * The changelog of a scaled-out stateful pipeline into MariaDB/MySQL, in the two tables of
 * src/connectors/sql/changelog.ts, in the URL's database (beside the offsets table):
 *
 *   sluice_changelog       (topic, partition, key_hash BINARY(32), key LONGBLOB, value LONGTEXT)
 *   sluice_changelog_ends  (topic, partition, version BIGINT)
 *
 * A state key is any text (a dedupe key is the user's, of any length; window keys hold NUL characters), and
 * InnoDB keys index at most 3072 bytes: rows are keyed by the SHA-256 of the key's UTF-8 bytes, the key kept
 * beside it as bytes. `partition` is a reserved word here: always quoted.
 */
export class MySqlChangelogStore implements SqlChangelogStore {
  readonly #connect: Connect
  readonly #database: string
  readonly #keyCollation: string
  readonly #state = quoteId(CHANGELOG_TABLE)
  readonly #ends = quoteId(CHANGELOG_ENDS_TABLE)

  /** `keyCollation`: binary and no-pad, so topics compare as JavaScript strings do (see the writer). */
  constructor(connect: Connect, database: string, keyCollation: string) {
    this.#connect = connect
    this.#database = database
    this.#keyCollation = keyCollation
  }

  /**
   * Creates the tables and each topic's partition rows, and checks that a topic used before has `partitions`
   * partitions (the state of input partition p is in partition p).
   */
  async prepare(topics: readonly string[], partitions: number): Promise<void> {
    await this.#using('creating the changelog tables', async (conn) => {
      const topic = `VARCHAR(255) CHARACTER SET utf8mb4 COLLATE ${this.#keyCollation} NOT NULL`
      await conn.query(
        `CREATE TABLE IF NOT EXISTS ${this.#state} (topic ${topic}, \`partition\` INT NOT NULL, ` +
          'key_hash BINARY(32) NOT NULL, `key` LONGBLOB NOT NULL, ' +
          'value LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, ' +
          'PRIMARY KEY (topic, `partition`, key_hash)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4',
      )
      await conn.query(
        `CREATE TABLE IF NOT EXISTS ${this.#ends} (topic ${topic}, \`partition\` INT NOT NULL, ` +
          'version BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (topic, `partition`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4',
      )
      await this.#checkColumns(conn, CHANGELOG_TABLE, ['topic', 'partition', 'key_hash', 'key', 'value'])
      await this.#checkColumns(conn, CHANGELOG_ENDS_TABLE, ['topic', 'partition', 'version'])
      if (topics.length === 0) return
      const [existing] = await conn.query<RowDataPacket[]>(
        `SELECT topic, COUNT(*) AS n FROM ${this.#ends} WHERE topic IN (?) GROUP BY topic`,
        [[...topics]],
      )
      for (const row of existing)
        if (Number(row['n']) !== partitions)
          throw changelogPartitionsError(String(row['topic']), Number(row['n']), partitions, {
            state: this.#qualified(CHANGELOG_TABLE),
            ends: this.#qualified(CHANGELOG_ENDS_TABLE),
          })
      await conn.query(`INSERT IGNORE INTO ${this.#ends} (topic, \`partition\`) VALUES ?`, [
        topics.flatMap((t) => Array.from({ length: partitions }, (_, p) => [t, p])),
      ])
    })
  }

  /** Whether any changelog partition row exists for `topics` (the pipeline kept state here before). */
  async exists(topics: readonly string[]): Promise<boolean> {
    if (topics.length === 0) return false
    return this.#using('looking for the changelog', async (conn) => {
      const [rows] = await conn
        .query<RowDataPacket[]>(`SELECT 1 FROM ${this.#ends} WHERE topic IN (?) LIMIT 1`, [[...topics]])
        .catch((error: { errno?: number }) => {
          if (error.errno === 1146) return [[]] // ER_NO_SUCH_TABLE: no table yet
          throw error
        })
      return rows.length > 0
    })
  }

  /**
   * Reads the state of the given partitions as one snapshot (a read-only transaction WITH CONSISTENT
   * SNAPSHOT), a page of keys at a time per partition, and the versions it is at. There are no tombstones to
   * read: a deleted key has no row.
   */
  async read(
    topics: readonly string[],
    partitions: readonly number[],
    apply: (record: ChangelogRecord) => void,
    signal?: AbortSignal,
  ): Promise<ChangelogOffsets> {
    if (topics.length === 0 || partitions.length === 0) return new Map()
    return this.#using(`restoring state from ${this.#qualified(CHANGELOG_TABLE)}`, async (conn) => {
      // A failure leaves the transaction to the connection's end (#using destroys it).
      await conn.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ')
      await conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY')
      const ends = await this.#versions(conn, topics, partitions)
      for (const topic of topics)
        for (const partition of partitions) await this.#readPartition(conn, topic, partition, apply, signal)
      await conn.query('COMMIT')
      return ends
    })
  }

  /** One changelog partition's rows, a page at a time in key-hash order, inside read()'s snapshot. */
  async #readPartition(
    conn: PoolConnection,
    topic: string,
    partition: number,
    apply: (record: ChangelogRecord) => void,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    let after: Buffer | undefined
    for (;;) {
      if (signal?.aborted) throw new MySqlError('Restoring state was interrupted (the run is stopping).')
      const [rows] = await conn.query<RowDataPacket[]>(
        `SELECT key_hash, \`key\`, value FROM ${this.#state} WHERE topic = ? AND \`partition\` = ?` +
          `${after ? ' AND key_hash > ?' : ''} ORDER BY key_hash LIMIT ${PAGE_ROWS}`,
        after ? [topic, partition, after] : [topic, partition],
      )
      for (const row of rows)
        apply({ topic, partition, key: (row['key'] as Buffer).toString('utf8'), value: String(row['value']) })
      if (rows.length < PAGE_ROWS) return
      after = rows.at(-1)!['key_hash'] as Buffer
    }
  }

  /** The versions of the given partitions. A commit is atomic: there is nothing to wait for (`settled`). */
  async endOffsets(topics: readonly string[], partitions: readonly number[]): Promise<ChangelogOffsets> {
    return this.#using(`reading the changelog versions in ${this.#qualified(CHANGELOG_ENDS_TABLE)}`, (conn) =>
      this.#versions(conn, topics, partitions),
    )
  }

  /**
   * Inside a batch's transaction, after its partitions' position rows are locked (so two instances writing a
   * partition queue there, never on these rows): the last record per key upserted or deleted, and the version
   * of every partition written counted up. Statements stay under `maxStatementBytes`.
   */
  async write(
    conn: PoolConnection,
    records: readonly ChangelogRecord[],
    maxStatementBytes: number,
  ): Promise<void> {
    if (records.length === 0) return
    const changes = lastChanges(records)
    let rows: unknown[][] = []
    let bytes = 0
    const flush = async () => {
      if (rows.length === 0) return
      await conn.query(
        `INSERT INTO ${this.#state} (topic, \`partition\`, key_hash, \`key\`, value) VALUES ? ` +
          'ON DUPLICATE KEY UPDATE value = VALUES(value)',
        [rows],
      )
      rows = []
      bytes = 0
    }
    for (const r of changes.put) {
      const key = Buffer.from(r.key, 'utf8')
      // Escaped as text: bytes as hex (twice their size), a character as up to 4 bytes, quotes doubled.
      const size = 4 * r.topic.length + 2 * key.length + 64 + 2 * Buffer.byteLength(r.value) + 80
      if (bytes + size > maxStatementBytes) await flush()
      rows.push([r.topic, r.partition, hashOf(key), key, r.value])
      bytes += size
    }
    await flush()
    for (const {
      partition: { topic, partition },
      hashes,
    } of byPartition(changes.gone))
      for (let i = 0; i < hashes.length; i += DELETE_KEYS)
        await conn.query(
          `DELETE FROM ${this.#state} WHERE topic = ? AND \`partition\` = ? AND key_hash IN (?)`,
          [topic, partition, hashes.slice(i, i + DELETE_KEYS)],
        )
    const written = new Map<string, number[]>()
    for (const w of changes.written) written.set(w.topic, [...(written.get(w.topic) ?? []), w.partition])
    for (const [topic, partitions] of written)
      await conn.query(
        `UPDATE ${this.#ends} SET version = version + 1 WHERE topic = ? AND \`partition\` IN (?)`,
        [topic, partitions],
      )
  }

  async #versions(
    conn: PoolConnection,
    topics: readonly string[],
    partitions: readonly number[],
  ): Promise<ChangelogOffsets> {
    const ends = new Map<string, number>()
    if (topics.length === 0 || partitions.length === 0) return ends
    const [rows] = await conn.query<RowDataPacket[]>(
      `SELECT topic, \`partition\`, version FROM ${this.#ends} WHERE topic IN (?) AND \`partition\` IN (?)`,
      [[...topics], [...partitions]],
    )
    for (const r of rows)
      ends.set(changelogKey(String(r['topic']), Number(r['partition'])), Number(r['version']))
    return ends
  }

  /** Runs `work` on a connection of its own, released after (destroyed when it failed), errors wrapped. */
  async #using<R>(what: string, work: (conn: PoolConnection) => Promise<R>): Promise<R> {
    const conn = await this.#connect(what)
    try {
      const result = await work(conn)
      conn.release()
      return result
    } catch (error) {
      conn.destroy()
      if (error instanceof SluiceError) throw error
      throw wrapError(error, `mysql(): ${what}`)
    }
  }

  async #checkColumns(conn: PoolConnection, name: string, columns: readonly string[]): Promise<void> {
    const table = await describeTable(conn, this.#database, name)
    const missing = columns.filter((c) => !table?.columns.has(c))
    if (missing.length > 0)
      throw new UsageError(
        `mysql(): table ${this.#qualified(name)} exists but lacks column(s) ${missing.map(quoteId).join(', ')}; it is not Sluice's, and a scaled-out keyed pipeline keeps its state there (rename it, or run the pipeline with scaleOut: false).`,
      )
  }

  #qualified(name: string): string {
    return `${quoteId(this.#database)}.${quoteId(name)}`
  }
}

/** The row key of a state key: its SHA-256 (InnoDB cannot index keys of any length). */
function hashOf(key: Buffer): Buffer {
  return createHash('sha256').update(key).digest()
}

/** The tombstones' key hashes, per changelog partition. */
function byPartition(
  gone: readonly ChangelogRecord[],
): { readonly partition: ChangelogPartition; readonly hashes: Buffer[] }[] {
  const partitions = new Map<string, { partition: ChangelogPartition; hashes: Buffer[] }>()
  for (const r of gone) {
    const id = changelogKey(r.topic, r.partition)
    let entry = partitions.get(id)
    if (!entry) {
      entry = { partition: { topic: r.topic, partition: r.partition }, hashes: [] }
      partitions.set(id, entry)
    }
    entry.hashes.push(hashOf(Buffer.from(r.key, 'utf8')))
  }
  return [...partitions.values()]
}
