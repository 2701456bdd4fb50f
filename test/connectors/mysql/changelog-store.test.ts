import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import mysql2, { type Pool, type PoolConnection } from 'mysql2/promise'
import { BATCH_ISOLATION, MySqlChangelogStore } from '../../../src/connectors/mysql/changelog-store.ts'
import { mysql } from '../../../src/connectors/mysql/index.ts'
import type { ChangelogRecord } from '../../../src/contracts/changelog.ts'
import { POSITION_KEY } from '../../../src/runtime/task.ts'
import { useMariaDb } from './util.ts'

/**
 * The changelog of a scaled-out keyed pipeline into MariaDB, kept in the sink's database: written in a batch's
 * transaction, read back as the state per key, versions that say when a partition changed.
 */

const db = useMariaDb()
let pool: Pool

/** Statements of at most this many bytes: a batch of many keys takes several. */
const STATEMENT_BYTES = 256 * 1024

const A = 'p-dedupe-1-changelog'
const B = 'p-window-3-changelog'

function put(topic: string, partition: number, key: string, value: string | null): ChangelogRecord {
  return { topic, partition, key, value }
}

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

/** What read() hands out for `partitions`, as "topic/partition/key=value" sorted, and the ends it returns. */
async function readAll(
  changelog: MySqlChangelogStore,
  topics: string[],
  partitions: number[],
): Promise<{ rows: string[]; ends: Record<string, number> }> {
  const rows: string[] = []
  const ends = await changelog.read(topics, partitions, (r) =>
    rows.push(`${r.topic}/${r.partition}/${JSON.stringify(r.key)}=${r.value}`),
  )
  return { rows: rows.sort(), ends: Object.fromEntries(ends) }
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

  test('state written in committed transactions reads back per key; tombstones delete; versions count commits', async () => {
    const changelog = store()
    await changelog.prepare([A, B], 4)
    await changelog.prepare([A, B], 4) // a second instance starting: nothing changes
    assert.deepEqual(Object.fromEntries(await changelog.endOffsets([A, B], [0, 2])), {
      [`${A}:0`]: 0,
      [`${A}:2`]: 0,
      [`${B}:0`]: 0,
      [`${B}:2`]: 0,
    })
    // A window key holds NUL (key and window start), as does the position marker's key.
    const windowKey = 'k1\u00001700000000000'
    await inTransaction((c) =>
      changelog.write(
        c,
        [
          put(A, 2, 'e1', '{"t":1,"v":"1"}'),
          put(A, 2, 'e2', '{"t":2,"v":"1"}'),
          put(B, 2, windowKey, '{"t":null,"v":"3"}'),
          put(A, 2, POSITION_KEY, '{"position":17}'),
          put(B, 2, POSITION_KEY, '{"position":17}'),
          put(A, 0, 'e9', '{"t":9,"v":"1"}'),
        ],
        STATEMENT_BYTES,
      ),
    )
    // The next batch: e1 expires (a tombstone), the window is updated twice (the last one counts), and a key
    // never written is deleted (it expired within the batch that set it).
    await inTransaction((c) =>
      changelog.write(
        c,
        [
          put(A, 2, 'e1', null),
          put(B, 2, windowKey, '{"t":null,"v":"4"}'),
          put(B, 2, windowKey, '{"t":null,"v":"5"}'),
          put(A, 2, 'never', null),
          put(A, 2, POSITION_KEY, '{"position":20}'),
          put(B, 2, POSITION_KEY, '{"position":20}'),
        ],
        STATEMENT_BYTES,
      ),
    )
    const two = await readAll(changelog, [A, B], [2])
    assert.deepEqual(
      two.rows,
      [
        `${A}/2/"e2"={"t":2,"v":"1"}`,
        `${A}/2/${JSON.stringify(POSITION_KEY)}={"position":20}`,
        `${B}/2/${JSON.stringify(windowKey)}={"t":null,"v":"5"}`,
        `${B}/2/${JSON.stringify(POSITION_KEY)}={"position":20}`,
      ].sort(),
    )
    assert.deepEqual(two.ends, { [`${A}:2`]: 2, [`${B}:2`]: 2 })
    // Only the partitions asked for.
    assert.deepEqual((await readAll(changelog, [A, B], [0])).rows, [`${A}/0/"e9"={"t":9,"v":"1"}`])
    assert.deepEqual(Object.fromEntries(await changelog.endOffsets([A, B], [0, 1])), {
      [`${A}:0`]: 1,
      [`${A}:1`]: 0,
      [`${B}:0`]: 0,
      [`${B}:1`]: 0,
    })
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

  test('a rolled-back transaction leaves neither state nor a version behind', async () => {
    const changelog = store()
    const C = 'q-dedupe-1-changelog'
    await changelog.prepare([C], 2)
    await inTransaction((c) => changelog.write(c, [put(C, 1, 'kept', '1')], STATEMENT_BYTES))
    await inTransaction(
      (c) => changelog.write(c, [put(C, 1, 'kept', null), put(C, 1, 'new', '2')], STATEMENT_BYTES),
      false,
    )
    const rows: string[] = []
    const ends = await changelog.read([C], [0, 1], (r) => rows.push(`${r.key}=${r.value}`))
    assert.deepEqual(rows, ['kept=1'])
    assert.deepEqual(Object.fromEntries(ends), { [`${C}:0`]: 0, [`${C}:1`]: 1 })
  })

  test('a changelog used with another partition count is refused by name', async () => {
    const changelog = store()
    const D = 'r-window-2-changelog'
    await changelog.prepare([D], 3)
    await assert.rejects(
      changelog.prepare([D], 6),
      (error: Error & { code?: string }) =>
        error.code === 'SLUICE_CHANGELOG_PARTITIONS' &&
        /"r-window-2-changelog".* has 3 partitions, but the input has 6/.test(error.message),
    )
  })

  test('says whether a pipeline kept state here, also before the tables exist', async () => {
    const fresh = await mysql2.createConnection({ uri: db.server.url })
    try {
      await fresh.query('DROP TABLE IF EXISTS sluice_changelog, sluice_changelog_ends')
    } finally {
      await fresh.end()
    }
    const changelog = store()
    assert.equal(await changelog.exists(['x-window-1-changelog']), false)
    await changelog.prepare(['x-window-1-changelog'], 2)
    assert.equal(await changelog.exists(['x-window-1-changelog']), true)
    assert.equal(await changelog.exists(['y-window-1-changelog']), false)
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

  test('restores many keys a page at a time, in one snapshot', async () => {
    const changelog = store()
    const E = 's-dedupe-1-changelog'
    await changelog.prepare([E], 1)
    const n = 45_000 // more than two pages
    await inTransaction((c) =>
      changelog.write(
        c,
        Array.from({ length: n }, (_, i) => put(E, 0, `key-${i}`, String(i))),
        STATEMENT_BYTES,
      ),
    )
    let seen = 0
    let sum = 0
    // A commit while the restore reads is not part of what it reads.
    let later: Promise<void> | undefined
    const ends = await changelog.read([E], [0], (r) => {
      seen++
      sum += Number(r.value)
      later ??= inTransaction((c) => changelog.write(c, [put(E, 0, 'later', '1000000')], STATEMENT_BYTES))
    })
    assert.equal(seen, n)
    assert.equal(sum, (n * (n - 1)) / 2)
    assert.deepEqual(Object.fromEntries(ends), { [`${E}:0`]: 1 })
    await later
    let again = 0
    assert.deepEqual(Object.fromEntries(await changelog.read([E], [0], () => again++)), { [`${E}:0`]: 2 })
    assert.equal(again, n + 1)
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
