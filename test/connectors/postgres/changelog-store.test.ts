import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import { PostgresChangelogStore } from '../../../src/connectors/postgres/changelog-store.ts'
import type { ChangelogRecord } from '../../../src/contracts/changelog.ts'
import { POSITION_KEY } from '../../../src/runtime/task.ts'
import { startPostgres, type TestPostgres } from '../../helpers/postgres.ts'

/**
 * The changelog of a scaled-out keyed pipeline into PostgreSQL, kept in the sink's database: written in a
 * batch's transaction, read back as the state per key, versions that say when a partition changed.
 */

let database: TestPostgres
let pool: pg.Pool
before(async () => {
  database = await startPostgres()
  pool = new pg.Pool({ connectionString: database.url, max: 4 })
  pool.on('error', () => {})
  pool.on('connect', (client) => client.on('error', () => {}))
})
after(async () => {
  await pool?.end()
  await database?.stop()
})

const A = 'p-dedupe-1-changelog'
const B = 'p-window-3-changelog'

function put(topic: string, partition: number, key: string, value: string | null): ChangelogRecord {
  return { topic, partition, key, value }
}

async function inTransaction(work: (client: pg.PoolClient) => Promise<void>, commit = true): Promise<void> {
  const client = await pool.connect()
  try {
    await client.query('BEGIN')
    await work(client)
    await client.query(commit ? 'COMMIT' : 'ROLLBACK')
  } finally {
    client.release()
  }
}

/** What read() hands out for `partitions`, as "topic/partition/key=value" sorted, and the ends it returns. */
async function readAll(
  store: PostgresChangelogStore,
  partitions: number[],
): Promise<{ rows: string[]; ends: Record<string, number> }> {
  const rows: string[] = []
  const ends = await store.read([A, B], partitions, (r) =>
    rows.push(`${r.topic}/${r.partition}/${JSON.stringify(r.key)}=${r.value}`),
  )
  return { rows: rows.sort(), ends: Object.fromEntries(ends) }
}

describe('the PostgreSQL changelog store', () => {
  test('state written in committed transactions reads back per key; tombstones delete; versions count commits', async () => {
    const store = new PostgresChangelogStore(pool, { schema: undefined, name: 'sluice_offsets' })
    await store.prepare([A, B], 4)
    await store.prepare([A, B], 4) // a second instance starting: nothing changes
    assert.deepEqual(Object.fromEntries(await store.endOffsets([A, B], [0, 2])), {
      [`${A}:0`]: 0,
      [`${A}:2`]: 0,
      [`${B}:0`]: 0,
      [`${B}:2`]: 0,
    })
    // A window key holds NUL (key and window start), as does the position marker's key.
    const windowKey = 'k1\u00001700000000000'
    await inTransaction((c) =>
      store.write(c, [
        put(A, 2, 'e1', '{"t":1,"v":"1"}'),
        put(A, 2, 'e2', '{"t":2,"v":"1"}'),
        put(B, 2, windowKey, '{"t":null,"v":"3"}'),
        put(A, 2, POSITION_KEY, '{"position":17}'),
        put(B, 2, POSITION_KEY, '{"position":17}'),
        put(A, 0, 'e9', '{"t":9,"v":"1"}'),
      ]),
    )
    // The next batch: e1 expires (a tombstone), the window is updated twice (the last one counts).
    await inTransaction((c) =>
      store.write(c, [
        put(A, 2, 'e1', null),
        put(B, 2, windowKey, '{"t":null,"v":"4"}'),
        put(B, 2, windowKey, '{"t":null,"v":"5"}'),
        put(A, 2, POSITION_KEY, '{"position":20}'),
        put(B, 2, POSITION_KEY, '{"position":20}'),
      ]),
    )
    const two = await readAll(store, [2])
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
    assert.deepEqual((await readAll(store, [0])).rows, [`${A}/0/"e9"={"t":9,"v":"1"}`])
    assert.deepEqual(Object.fromEntries(await store.endOffsets([A, B], [0, 1])), {
      [`${A}:0`]: 1,
      [`${A}:1`]: 0,
      [`${B}:0`]: 0,
      [`${B}:1`]: 0,
    })
  })

  test('a rolled-back transaction leaves neither state nor a version behind', async () => {
    const store = new PostgresChangelogStore(pool, { schema: undefined, name: 'sluice_offsets' })
    const C = 'q-dedupe-1-changelog'
    await store.prepare([C], 2)
    await inTransaction((c) => store.write(c, [put(C, 1, 'kept', '1')]))
    await inTransaction((c) => store.write(c, [put(C, 1, 'kept', null), put(C, 1, 'new', '2')]), false)
    const rows: string[] = []
    const ends = await store.read([C], [0, 1], (r) => rows.push(`${r.key}=${r.value}`))
    assert.deepEqual(rows, ['kept=1'])
    assert.deepEqual(Object.fromEntries(ends), { [`${C}:0`]: 0, [`${C}:1`]: 1 })
  })

  test('a changelog used with another partition count is refused by name', async () => {
    const store = new PostgresChangelogStore(pool, { schema: undefined, name: 'sluice_offsets' })
    const D = 'r-window-2-changelog'
    await store.prepare([D], 3)
    await assert.rejects(
      store.prepare([D], 6),
      (error: Error & { code?: string }) =>
        error.code === 'SLUICE_CHANGELOG_PARTITIONS' &&
        /"r-window-2-changelog".* has 3 partitions, but the input has 6/.test(error.message),
    )
  })

  test('restores many keys through its cursor, in one snapshot', async () => {
    const store = new PostgresChangelogStore(pool, { schema: undefined, name: 'sluice_offsets' })
    const E = 's-dedupe-1-changelog'
    await store.prepare([E], 1)
    const n = 45_000 // more than one fetch
    await inTransaction((c) =>
      store.write(
        c,
        Array.from({ length: n }, (_, i) => put(E, 0, `key-${i}`, String(i))),
      ),
    )
    let seen = 0
    let sum = 0
    // A commit while the restore reads is not part of what it reads.
    let later: Promise<void> | undefined
    const ends = await store.read([E], [0], (r) => {
      seen++
      sum += Number(r.value)
      later ??= inTransaction((c) => store.write(c, [put(E, 0, 'later', '1000000')]))
    })
    assert.equal(seen, n)
    assert.equal(sum, (n * (n - 1)) / 2)
    assert.deepEqual(Object.fromEntries(ends), { [`${E}:0`]: 1 })
    await later
    let again = 0
    assert.deepEqual(Object.fromEntries(await store.read([E], [0], () => again++)), { [`${E}:0`]: 2 })
    assert.equal(again, n + 1)
  })
})
