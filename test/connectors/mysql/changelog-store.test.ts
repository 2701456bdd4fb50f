import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import mysql2, { type Pool, type PoolConnection } from 'mysql2/promise'
import { BATCH_ISOLATION, MySqlChangelogStore } from '../../../src/connectors/mysql/changelog-store.ts'
import { mysql } from '../../../src/connectors/mysql/index.ts'
import { changelogStoreTests, put } from '../sql/changelog-store.ts'
import { useMariaDb } from './util.ts'

/**
 * The changelog of a scaled-out keyed pipeline into MariaDB, kept in the sink's database: written in a batch's
 * transaction, read back as the state per key, versions that say when a partition changed (the scenarios every
 * SQL sink shares, ../sql/changelog-store.ts), keys kept exactly however long, and what the sink's scaled-out
 * batches need of their isolation.
 */

const db = useMariaDb()
let pool: Pool

/** Statements of at most this many bytes: a batch of many keys takes several. */
const STATEMENT_BYTES = 256 * 1024

function store(): MySqlChangelogStore {
  return new MySqlChangelogStore(() => pool.getConnection(), db.server.database, 'utf8mb4_nopad_bin')
}

async function inTransaction(work: (conn: PoolConnection) => Promise<void>, commit = true): Promise<void> {
  const conn = await pool.getConnection()
  try {
    await conn.query('START TRANSACTION')
    await work(conn)
    await conn.query(commit ? 'COMMIT' : 'ROLLBACK')
  } finally {
    conn.release()
  }
}

describe('the MariaDB changelog store', () => {
  // Inside the describe: its hooks run after the file's, which start the server.
  before(() => {
    pool = mysql2.createPool({
      uri: db.server.url,
      connectionLimit: 4,
      charset: 'utf8mb4',
      supportBigNumbers: true,
      bigNumberStrings: true,
    })
  })
  after(async () => {
    await pool?.end()
  })

  changelogStoreTests({
    store,
    write: (changelog, records, commit = true) =>
      inTransaction((c) => changelog.write(c, records, STATEMENT_BYTES), commit),
  })

  test('keys are kept exactly: case, trailing spaces, NUL, emoji, and keys far longer than an index can hold', async () => {
    const changelog = store()
    const K = 'k-dedupe-1-changelog'
    await changelog.prepare([K], 1)
    const long = `${'x'.repeat(20_000)}é`
    const keys = ['a', 'A', 'a ', 'a\u0000b', '😀', '', long, `${long}y`]
    await inTransaction((c) =>
      changelog.write(
        c,
        keys.map((key, i) => put(K, 0, key, String(i))),
        STATEMENT_BYTES,
      ),
    )
    await inTransaction((c) => changelog.write(c, [put(K, 0, long, null)], STATEMENT_BYTES))
    const got = new Map<string, string | null>()
    await changelog.read([K], [0], (r) => got.set(r.key, r.value))
    const expected = new Map(keys.map((key, i) => [key, String(i)]))
    expected.delete(long)
    assert.deepEqual(got, expected)
  })

  test('no pipeline kept state here before the tables exist', async () => {
    const fresh = await mysql2.createConnection({ uri: db.server.url })
    try {
      await fresh.query('DROP TABLE IF EXISTS sluice_changelog, sluice_changelog_ends')
    } finally {
      await fresh.end()
    }
    assert.equal(await store().exists(['x-window-1-changelog']), false)
  })

  // Under REPEATABLE READ (the server's default) the second instance waited for the first's commit: 3 s here,
  // until its lock wait timed out.
  test("at a batch's isolation, a tombstone of a missing key does not hold back another instance's next partition", async () => {
    const changelog = store()
    const G = 'g-dedupe-1-changelog'
    await changelog.prepare([G], 2)
    // Keys in partition 1, none in partition 0: the gap after a missing key of partition 0 reaches into 1.
    await inTransaction((c) =>
      changelog.write(
        c,
        Array.from({ length: 50 }, (_, i) => put(G, 1, `old-${i}`, '1')),
        STATEMENT_BYTES,
      ),
    )
    const first = await pool.getConnection()
    const second = await pool.getConnection()
    try {
      await second.query('SET SESSION innodb_lock_wait_timeout = 3')
      await first.query(BATCH_ISOLATION)
      await first.query('START TRANSACTION')
      await changelog.write(first, [put(G, 0, 'set-and-expired', null)], STATEMENT_BYTES)
      await second.query(BATCH_ISOLATION)
      await second.query('START TRANSACTION')
      // 200 new keys: one of them almost surely hashes below partition 1's first key (1 - (50/51)^200).
      await changelog.write(
        second,
        Array.from({ length: 200 }, (_, i) => put(G, 1, `new-${i}`, '2')),
        STATEMENT_BYTES,
      )
      await second.query('COMMIT')
    } finally {
      await second.query('ROLLBACK').catch(() => {})
      await first.query('ROLLBACK').catch(() => {})
      first.release()
      second.release()
    }
    let keys = 0
    await changelog.read([G], [1], () => keys++)
    assert.equal(keys, 250)
  })
})

describe('mysql() scaled out with keyed state', () => {
  const open = (pipelineId: string, instance?: string) => {
    const writer = mysql({
      url: db.server.url,
      table: `out_${pipelineId.replaceAll('-', '_')}`,
      createTable: true,
    }).create()
    // The sink reads nothing of its source: only a Kafka sink commits the source's offsets itself.
    return { writer, contract: writer.open({ pipelineId, source: undefined as never, instance }) }
  }

  test('a keyed pipeline that ran as one process (its state in its checkpoint) is refused when it first runs scaled out', async () => {
    const single = open('was-single')
    await single.contract
    await single.writer.close()
    await db.query(
      `UPDATE sluice_offsets SET batch_id = 4, positions = '{"t:0": 10}' WHERE pipeline_id = ?`,
      ['was-single'],
    )
    const shared = open('was-single', 'a')
    try {
      const contract = await shared.contract
      await assert.rejects(
        contract.changelog!.prepare(['was-single-window-1-changelog'], 2),
        (error: Error & { code?: string }) =>
          error.code === 'SLUICE_STATE_IN_CHECKPOINT' &&
          /wrote to `\w+`\.`out_was_single` as one process/.test(error.message) &&
          /mysql\(\{ …, scaleOut: false \}\)/.test(error.message) &&
          /rows of `\w+`\.`sluice_offsets` and `\w+`\.`sluice_offsets_partitions`/.test(error.message),
      )
    } finally {
      await shared.writer.close()
    }
    // Started scaled out from the beginning: its positions come with its state.
    const fresh = open('scaled-from-start', 'a')
    try {
      await (await fresh.contract).changelog!.prepare(['scaled-from-start-window-1-changelog'], 2)
    } finally {
      await fresh.writer.close()
    }
  })
})
