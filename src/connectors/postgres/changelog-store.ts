import type pg from 'pg'
import { type ChangelogOffsets, type ChangelogRecord, changelogKey } from '../../contracts/changelog.ts'
import { SluiceError } from '../../errors.ts'
import {
  CHANGELOG_ENDS_TABLE,
  CHANGELOG_TABLE,
  changelogPartitionsError,
  lastChanges,
  type SqlChangelogStore,
} from '../sql/changelog.ts'
import { PostgresError, wrapError } from './errors.ts'
import { qualified, sibling, type TableName } from './identifiers.ts'

/** Rows a restore fetches at a time from its cursor. */
const FETCH_ROWS = 20_000

/**
 * The changelog of a scaled-out stateful pipeline into PostgreSQL, in the two tables of
 * src/connectors/sql/changelog.ts, in the schema of the sink's offsets table:
 *
 *   sluice_changelog       (topic text, partition integer, key bytea, value text)
 *   sluice_changelog_ends  (topic text, partition integer, version bigint)
 *
 * Keys are bytea: state keys hold NUL characters, which PostgreSQL text cannot.
 */
export class PostgresChangelogStore implements SqlChangelogStore {
  readonly #pool: pg.Pool
  readonly #state: TableName
  readonly #ends: TableName

  constructor(pool: pg.Pool, offsets: TableName) {
    this.#pool = pool
    this.#state = sibling(offsets, CHANGELOG_TABLE)
    this.#ends = sibling(offsets, CHANGELOG_ENDS_TABLE)
  }

  /**
   * Creates the tables and each topic's partition rows, and checks that a topic used before has `partitions`
   * partitions (the state of input partition p is in partition p).
   */
  async prepare(topics: readonly string[], partitions: number): Promise<void> {
    const ends = qualified(this.#ends)
    try {
      await this.#pool.query(
        `CREATE TABLE IF NOT EXISTS ${qualified(this.#state)} (topic text NOT NULL, partition integer NOT NULL, ` +
          'key bytea NOT NULL, value text NOT NULL, PRIMARY KEY (topic, partition, key))',
      )
      await this.#pool.query(
        `CREATE TABLE IF NOT EXISTS ${ends} (topic text NOT NULL, partition integer NOT NULL, ` +
          'version bigint NOT NULL DEFAULT 0, PRIMARY KEY (topic, partition))',
      )
      const existing = await this.#pool.query<{ topic: string; n: string }>(
        `SELECT topic, count(*) AS n FROM ${ends} WHERE topic = ANY($1::text[]) GROUP BY topic`,
        [topics],
      )
      for (const { topic, n } of existing.rows)
        if (Number(n) !== partitions)
          throw changelogPartitionsError(topic, Number(n), partitions, {
            state: qualified(this.#state),
            ends,
          })
      await this.#pool.query(
        `INSERT INTO ${ends} (topic, partition) SELECT t, p FROM unnest($1::text[]) AS t, ` +
          'generate_series(0, $2::int - 1) AS p ON CONFLICT (topic, partition) DO NOTHING',
        [topics, partitions],
      )
    } catch (error) {
      if (error instanceof SluiceError) throw error
      throw wrapError(error, `creating the changelog tables ${qualified(this.#state)}, ${ends}`)
    }
  }

  /** Whether any changelog partition row exists for `topics` (the pipeline kept state here before). */
  async exists(topics: readonly string[]): Promise<boolean> {
    const result = await this.#pool
      .query(`SELECT 1 FROM ${qualified(this.#ends)} WHERE topic = ANY($1::text[]) LIMIT 1`, [topics])
      .catch((error: { code?: string }) => {
        if (error.code === '42P01') return { rowCount: 0 } // no table yet
        throw error
      })
    return (result.rowCount ?? 0) > 0
  }

  /**
   * Reads the state of the given partitions as one snapshot (a repeatable-read transaction), through a
   * cursor, and the versions it is at. There are no tombstones to read: a deleted key has no row.
   */
  async read(
    topics: readonly string[],
    partitions: readonly number[],
    apply: (record: ChangelogRecord) => void,
    signal?: AbortSignal,
  ): Promise<ChangelogOffsets> {
    const client = await this.#pool.connect()
    let broken = false
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
      const ends = await this.#versions(client, topics, partitions)
      await client.query(
        `DECLARE sluice_restore NO SCROLL CURSOR FOR SELECT topic, partition, key, value FROM ${qualified(this.#state)} ` +
          'WHERE topic = ANY($1::text[]) AND partition = ANY($2::int[])',
        [topics, partitions],
      )
      for (;;) {
        if (signal?.aborted)
          throw new PostgresError('Restoring state was interrupted (the run is stopping).', {})
        const batch = await client.query<[string, number, Buffer, string]>({
          text: `FETCH ${FETCH_ROWS} FROM sluice_restore`,
          rowMode: 'array',
        })
        for (const [topic, partition, key, value] of batch.rows)
          apply({ topic, partition, key: key.toString('utf8'), value })
        if (batch.rows.length < FETCH_ROWS) break
      }
      await client.query('COMMIT')
      return ends
    } catch (error) {
      broken = true
      await client.query('ROLLBACK').then(
        () => {
          broken = false
        },
        () => {},
      )
      if (error instanceof SluiceError) throw error
      throw wrapError(error, `restoring state from ${qualified(this.#state)}`)
    } finally {
      client.release(broken)
    }
  }

  /** The versions of the given partitions. A commit is atomic: there is nothing to wait for (`settled`). */
  async endOffsets(topics: readonly string[], partitions: readonly number[]): Promise<ChangelogOffsets> {
    try {
      return await this.#versions(this.#pool, topics, partitions)
    } catch (error) {
      throw wrapError(error, `reading the changelog versions in ${qualified(this.#ends)}`)
    }
  }

  async #versions(
    db: pg.Pool | pg.ClientBase,
    topics: readonly string[],
    partitions: readonly number[],
  ): Promise<ChangelogOffsets> {
    const ends = new Map<string, number>()
    if (partitions.length === 0) return ends
    const result = await db.query<{ topic: string; partition: number; version: string }>(
      `SELECT topic, partition, version FROM ${qualified(this.#ends)} ` +
        'WHERE topic = ANY($1::text[]) AND partition = ANY($2::int[])',
      [topics, partitions],
    )
    for (const r of result.rows) ends.set(changelogKey(r.topic, r.partition), Number(r.version))
    return ends
  }

  /**
   * Inside a batch's transaction, after its partitions' position rows are locked (so two instances writing a
   * partition queue there, never on these rows): the last record per key upserted or deleted, and the version
   * of every partition written counted up.
   */
  async write(client: pg.ClientBase, records: readonly ChangelogRecord[]): Promise<void> {
    if (records.length === 0) return
    const changes = lastChanges(records)
    const put = {
      topics: changes.put.map((r) => r.topic),
      partitions: changes.put.map((r) => r.partition),
      keys: changes.put.map((r) => Buffer.from(r.key, 'utf8')),
      values: changes.put.map((r) => r.value),
    }
    const gone = {
      topics: changes.gone.map((r) => r.topic),
      partitions: changes.gone.map((r) => r.partition),
      keys: changes.gone.map((r) => Buffer.from(r.key, 'utf8')),
    }
    const state = qualified(this.#state)
    if (put.keys.length > 0)
      await client.query(
        `INSERT INTO ${state} (topic, partition, key, value) ` +
          'SELECT * FROM unnest($1::text[], $2::int[], $3::bytea[], $4::text[]) ' +
          'ON CONFLICT (topic, partition, key) DO UPDATE SET value = EXCLUDED.value',
        [put.topics, put.partitions, put.keys, put.values],
      )
    if (gone.keys.length > 0)
      await client.query(
        `DELETE FROM ${state} AS s USING unnest($1::text[], $2::int[], $3::bytea[]) AS d(topic, partition, key) ` +
          'WHERE s.topic = d.topic AND s.partition = d.partition AND s.key = d.key',
        [gone.topics, gone.partitions, gone.keys],
      )
    const bumped = changes.written
    await client.query(
      `UPDATE ${qualified(this.#ends)} AS e SET version = e.version + 1 ` +
        'FROM unnest($1::text[], $2::int[]) AS w(topic, partition) ' +
        'WHERE e.topic = w.topic AND e.partition = w.partition',
      [bumped.map((w) => w.topic), bumped.map((w) => w.partition)],
    )
  }
}
