/**
 * The same changelog scenarios for every SQL sink that carries a scaled-out pipeline's keyed state
 * (PostgreSQL, MariaDB/MySQL): state written in the batches' transactions reads back per key, tombstones
 * delete, versions count commits, a rollback leaves nothing, a changed partition count is refused, and a
 * restore of many keys reads one snapshot.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { SqlChangelogStore } from '../../../src/connectors/sql/changelog.ts'
import type { ChangelogRecord } from '../../../src/contracts/changelog.ts'
import { POSITION_KEY } from '../../../src/runtime/task.ts'

export interface ChangelogTarget<S extends SqlChangelogStore> {
  /** A store over the database's changelog tables (created by prepare()). */
  store(): S
  /** Writes `records` with the store inside one transaction of the database, committed or rolled back. */
  write(store: S, records: readonly ChangelogRecord[], commit?: boolean): Promise<void>
}

export function put(topic: string, partition: number, key: string, value: string | null): ChangelogRecord {
  return { topic, partition, key, value }
}

/** What read() hands out for `partitions`, as "topic/partition/key=value" sorted, and the ends it returns. */
async function readAll(
  store: SqlChangelogStore,
  topics: string[],
  partitions: number[],
): Promise<{ rows: string[]; ends: Record<string, number> }> {
  const rows: string[] = []
  const ends = await store.read(topics, partitions, (r) =>
    rows.push(`${r.topic}/${r.partition}/${JSON.stringify(r.key)}=${r.value}`),
  )
  return { rows: rows.sort(), ends: Object.fromEntries(ends) }
}

export function changelogStoreTests<S extends SqlChangelogStore>(target: ChangelogTarget<S>): void {
  const A = 'p-dedupe-1-changelog'
  const B = 'p-window-3-changelog'

  test('state written in committed transactions reads back per key; tombstones delete; versions count commits', async () => {
    const store = target.store()
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
    await target.write(store, [
      put(A, 2, 'e1', '{"t":1,"v":"1"}'),
      put(A, 2, 'e2', '{"t":2,"v":"1"}'),
      put(B, 2, windowKey, '{"t":null,"v":"3"}'),
      put(A, 2, POSITION_KEY, '{"position":17}'),
      put(B, 2, POSITION_KEY, '{"position":17}'),
      put(A, 0, 'e9', '{"t":9,"v":"1"}'),
    ])
    // The next batch: e1 expires (a tombstone), the window is updated twice (the last one counts), and a key
    // never written is deleted (it expired within the batch that set it).
    await target.write(store, [
      put(A, 2, 'e1', null),
      put(B, 2, windowKey, '{"t":null,"v":"4"}'),
      put(B, 2, windowKey, '{"t":null,"v":"5"}'),
      put(A, 2, 'never', null),
      put(A, 2, POSITION_KEY, '{"position":20}'),
      put(B, 2, POSITION_KEY, '{"position":20}'),
    ])
    const two = await readAll(store, [A, B], [2])
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
    assert.deepEqual((await readAll(store, [A, B], [0])).rows, [`${A}/0/"e9"={"t":9,"v":"1"}`])
    assert.deepEqual(Object.fromEntries(await store.endOffsets([A, B], [0, 1])), {
      [`${A}:0`]: 1,
      [`${A}:1`]: 0,
      [`${B}:0`]: 0,
      [`${B}:1`]: 0,
    })
  })

  test('a rolled-back transaction leaves neither state nor a version behind', async () => {
    const store = target.store()
    const C = 'q-dedupe-1-changelog'
    await store.prepare([C], 2)
    await target.write(store, [put(C, 1, 'kept', '1')])
    await target.write(store, [put(C, 1, 'kept', null), put(C, 1, 'new', '2')], false)
    const rows: string[] = []
    const ends = await store.read([C], [0, 1], (r) => rows.push(`${r.key}=${r.value}`))
    assert.deepEqual(rows, ['kept=1'])
    assert.deepEqual(Object.fromEntries(ends), { [`${C}:0`]: 0, [`${C}:1`]: 1 })
  })

  test('a changelog used with another partition count is refused by name', async () => {
    const store = target.store()
    const D = 'r-window-2-changelog'
    await store.prepare([D], 3)
    await assert.rejects(
      store.prepare([D], 6),
      (error: Error & { code?: string }) =>
        error.code === 'SLUICE_CHANGELOG_PARTITIONS' &&
        /"r-window-2-changelog".* has 3 partitions, but the input has 6/.test(error.message),
    )
  })

  test('restores many keys in parts, in one snapshot', async () => {
    const store = target.store()
    const E = 's-dedupe-1-changelog'
    await store.prepare([E], 1)
    const n = 45_000 // more than two fetches (pages)
    await target.write(
      store,
      Array.from({ length: n }, (_, i) => put(E, 0, `key-${i}`, String(i))),
    )
    let seen = 0
    let sum = 0
    // A commit while the restore reads is not part of what it reads.
    let later: Promise<void> | undefined
    const ends = await store.read([E], [0], (r) => {
      seen++
      sum += Number(r.value)
      later ??= target.write(store, [put(E, 0, 'later', '1000000')])
    })
    assert.equal(seen, n)
    assert.equal(sum, (n * (n - 1)) / 2)
    assert.deepEqual(Object.fromEntries(ends), { [`${E}:0`]: 1 })
    await later
    let again = 0
    assert.deepEqual(Object.fromEntries(await store.read([E], [0], () => again++)), { [`${E}:0`]: 2 })
    assert.equal(again, n + 1)
  })

  test('says whether a pipeline kept state here', async () => {
    const store = target.store()
    await store.prepare(['x-window-1-changelog'], 2)
    assert.equal(await store.exists(['x-window-1-changelog']), true)
    assert.equal(await store.exists(['y-window-1-changelog']), false)
  })
}
