import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { z } from 'zod'
import { count, sum } from '../../src/aggregate/index.ts'
import { CheckpointCorruptError, CheckpointInUseError } from '../../src/checkpoint/errors.ts'
import { memory } from '../../src/connectors/testing/memory.ts'
import { memorySource } from '../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { KeyedState } from '../../src/state/keyed-state.ts'
import { StateDatabase } from '../../src/state/state-database.ts'
import { TestDriver } from '../../src/testing/test-driver.ts'
import { session, tumbling } from '../../src/window/index.ts'

const numbers = { encode: (n: number) => n, decode: (s: unknown) => s as number }

function keyed(database: StateDatabase, cacheEntries = 100) {
  return new KeyedState({ table: database.table('op'), cacheEntries }, { codec: numbers, timeOf: (n) => n })
}

function contents(state: KeyedState<number>, keys: readonly string[]): Record<string, number | undefined> {
  return Object.fromEntries(keys.map((k) => [k, state.get(k)]))
}

describe('state store (SQLite) behind keyed state', () => {
  test('restore discards the open batch and returns the progress committed with the newest one', () => {
    const database = StateDatabase.open(':memory:')
    const state = keyed(database)
    database.begin(0)
    state.set('a', 1)
    state.set('b', 2)
    database.commit(0, [state], { p: 1 })
    database.begin(1)
    state.set('a', 10)
    state.delete('b')
    state.set('c', 3)
    state.writeChanges() // written into the open transaction, as a flush does
    assert.deepEqual(database.restore(0), { p: 1 })
    state.afterRestore()
    assert.equal(state.size, 2)
    assert.deepEqual(contents(state, ['a', 'b', 'c']), { a: 1, b: 2, c: undefined })
    assert.equal(database.latestBatch, 0)
    database.close()
  })

  test('a store at another batch than the checkpoint needs is refused, with what to do', () => {
    const database = StateDatabase.open(':memory:')
    assert.deepEqual(database.restore(-1), {}, 'an empty store is the state before batch 0')
    const state = keyed(database)
    database.begin(0)
    state.set('a', 1)
    database.commit(0, [state], {})
    for (const asked of [-1, 5])
      assert.throws(
        () => database.restore(asked),
        (error: Error) =>
          error instanceof CheckpointCorruptError &&
          error.message.includes(
            `holds the state after batch 0, but the checkpoint needs the state after batch ${asked}`,
          ) &&
          /start from a new checkpoint location/.test(error.message),
      )
    database.close()
  })

  test('expired entries are deleted through the time index, in memory and on disk', () => {
    const database = StateDatabase.open(':memory:')
    const state = keyed(database, 1)
    database.begin(0)
    for (let i = 0; i < 10; i++) state.set(`k${i}`, i * 100)
    database.commit(0, [state], {})
    assert.equal(state.cachedEntries, 1, 'over the bound: trimmed to the newest entry after the commit')
    database.begin(1)
    assert.equal(state.get('k9'), 900)
    assert.equal(state.deleteExpired(450), 5)
    assert.equal(state.size, 5)
    assert.deepEqual(
      state.expiring(700, true).map(([k, v]) => [k, v]),
      [
        ['k5', 500],
        ['k6', 600],
        ['k7', 700],
      ],
    )
    database.commit(1, [state], {})
    assert.equal(database.table('op').count(), 5)
    database.close()
  })

  test('a second process writing the same checkpoint is told so, and the first is not disturbed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-state-db-'))
    try {
      const file = join(dir, 'state.db')
      const running = StateDatabase.open(file)
      running.begin(0)
      const second = StateDatabase.open(file)
      assert.throws(
        () => second.begin(0),
        (error: Error) =>
          error instanceof CheckpointInUseError &&
          error.exitCode === 2 &&
          /in use by another run: is this pipeline already running/.test(error.message),
      )
      second.close()
      running.commit(0, [], { p: 1 })
      assert.equal(running.latestBatch, 0)
      running.close()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  test('committed state survives closing and reopening the file; an open batch does not', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-state-db-'))
    try {
      const file = join(dir, 'state.db')
      const first = StateDatabase.open(file)
      const state = keyed(first)
      first.begin(0)
      state.set('kept', 1)
      first.commit(0, [state], { p: 7 })
      first.begin(1)
      state.set('lost', 2)
      state.writeChanges()
      first.close() // a crash before the commit: SQLite rolls the transaction back

      const second = StateDatabase.open(file)
      assert.equal(second.latestBatch, 0)
      assert.deepEqual(second.restore(0), { p: 7 })
      const reopened = keyed(second)
      assert.deepEqual(contents(reopened, ['kept', 'lost']), { kept: 1, lost: undefined })
      second.close()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('a state cache smaller than the state gives the same results', () => {
  const T0 = Date.parse('2026-11-25T10:00:00Z')
  const Click = z.object({ id: z.number(), user: z.string(), page: z.string(), at: z.string() })
  const clicks = Array.from({ length: 600 }, (_, i) => ({
    id: i % 550, // 50 duplicates
    user: `u${(i * 7) % 40}`,
    page: `/p${i % 13}`,
    at: new Date(T0 + i * 20_000 + (i % 5) * 3_000).toISOString(),
  }))

  const sessions = () =>
    pipeline('cache-sessions')
      .from(memorySource('s'))
      .parse(Click)
      .withWatermark('at', '30s')
      .dedupe((c) => c.id, '10m')
      .keyBy((c) => c.user)
      .window(session('5m'))
      .aggregate(count())
      .to(memory())

  const pages = () =>
    pipeline('cache-pages')
      .from(memorySource('s'))
      .parse(Click)
      .withWatermark('at', '30s')
      .keyBy((c) => c.page)
      .window(tumbling('2m'))
      .aggregate(
        sum((c: { id: number }) => c.id),
        { outputMode: 'update' },
      )
      .to(memory())

  const totals = () =>
    pipeline('cache-totals')
      .from(memorySource('s'))
      .parse(Click)
      .withWatermark('at', '30s')
      .keyBy((c) => c.user)
      .process<number, { user: string; n: number }>({
        init: () => 0,
        process: (n, c, { emit }) => {
          emit({ user: c.user, n: n + 1 })
          return n + 1
        },
        ttl: '3m',
      })
      .to(memory())

  for (const [name, build] of [
    ['dedupe + session windows', sessions],
    ['tumbling windows in update mode', pages],
    ['process() with a time-to-live', totals],
  ] as const) {
    test(name, async () => {
      const run = async (cacheEntries: number | undefined, restartEvery: number) => {
        const driver = await TestDriver.create(build() as ReturnType<typeof sessions>, {
          startTime: T0,
          ...(cacheEntries !== undefined ? { stateCacheEntries: cacheEntries } : {}),
        })
        for (let b = 0; b * 40 < clicks.length; b++) {
          driver.send(clicks.slice(b * 40, b * 40 + 40).map((c) => JSON.stringify(c)))
          driver.advanceTime(40 * 20_000)
          driver.runBatch()
          if (restartEvery > 0 && b % restartEvery === 0) await driver.restart()
        }
        driver.advanceTime(3_600_000).runBatch()
        driver.close()
        return driver.output
      }
      const reference = await run(undefined, 0)
      assert.ok(reference.length > 20)
      assert.deepEqual(await run(3, 0), reference)
      assert.deepEqual(await run(3, 4), reference)
    })
  }
})
