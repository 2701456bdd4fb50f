import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { z } from 'zod'
import { aggregates, count, sum } from '../../src/aggregate/index.ts'
import { memory } from '../../src/connectors/testing/memory.ts'
import { memorySource } from '../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { StateDatabase } from '../../src/state/state-database.ts'
import { MISSING, WindowState } from '../../src/state/window-state.ts'
import { TestDriver } from '../../src/testing/test-driver.ts'
import { hopping } from '../../src/window/index.ts'

const T0 = Date.parse('2026-11-25T10:00:00Z')
const at = (s: number) => new Date(T0 + s * 1000).toISOString()

function withState(cacheEntries: number) {
  const database = StateDatabase.open(':memory:')
  const state = new WindowState<number>({ table: database.table('w'), cacheEntries }, sumCodec)
  return { database, state }
}

const sumCodec = {
  encode: (acc: number) => acc,
  decode: (snapshot: unknown) => snapshot as number,
}

describe('window state grouped by window, over the state store', () => {
  test('cells are stored as "key\\0start" → { key, start, end, acc } with the window end as their time', () => {
    const { database, state } = withState(100)
    database.begin(0)
    const pane = state.pane(60_000, 120_000)
    assert.equal(state.lookup(pane, 'a'), MISSING)
    state.create(pane, 'a', 'a', 1)
    state.create(pane, 7, '7', 2)
    database.commit(0, [state], {})
    assert.equal(state.size, 2)
    const rows = [...database.table('w').all()].map((row) => ({ ...row }))
    assert.deepEqual(rows, [
      { key: '7\u000060000', time: 120_000, value: '{"key":7,"start":60000,"end":120000,"acc":2}' },
      { key: 'a\u000060000', time: 120_000, value: '{"key":"a","start":60000,"end":120000,"acc":1}' },
    ])
    database.begin(1)
    state.deletePane(pane)
    database.commit(1, [state], {})
    assert.equal(state.size, 0)
    assert.deepEqual([...database.table('w').all()], [])
  })

  test('past its cache bound a window reads cells back from the store; numeric keys stay numbers', () => {
    const { database, state } = withState(1)
    database.begin(0)
    const pane = state.pane(0, 60_000)
    for (const [key, acc] of [
      ['a', 1],
      [5, 2],
      ['b', 3],
    ] as const)
      state.create(pane, key, String(key), acc)
    database.commit(0, [state], {})
    // Every cell was used by the batch, more than the bound: the oldest are dropped from memory.
    assert.equal(state.cachedEntries, 1)
    assert.equal(state.size, 3)
    database.begin(1)
    assert.equal(state.lookup(pane, '5'), 2, 'read back from the store')
    assert.equal(state.keyOf(pane, '5'), 5)
    assert.equal(state.lookup(pane, 'zz'), MISSING)
    state.update(pane, '5', 20)
    const cells = [...state.cells(pane)].map((c) => [c.key, c.acc])
    assert.deepEqual(
      cells.sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
      [
        [5, 20],
        ['a', 1],
        ['b', 3],
      ],
    )
    database.commit(1, [state], {})
    assert.equal(state.cachedEntries, 1, 'the cell the batch used stays in memory')
  })

  test('restore rebuilds the windows from the store and forgets an uncommitted batch', () => {
    const { database, state } = withState(100)
    database.begin(0)
    state.create(state.pane(0, 60_000), 'a', 'a', 1)
    database.commit(0, [state], { p0: 10 })
    database.begin(1)
    const first = state.pane(0, 60_000)
    assert.equal(state.lookup(first, 'a'), 1)
    state.update(first, 'a', 5)
    state.create(state.pane(60_000, 120_000), 'b', 'b', 7)
    state.writeChanges()
    assert.equal(state.size, 2)

    assert.deepEqual(database.restore(0), { p0: 10 })
    state.afterRestore()
    assert.equal(state.size, 1)
    assert.deepEqual(
      [...state.panes()].map((p) => [p.start, p.end, p.size]),
      [[0, 60_000, 1]],
    )
    assert.equal(state.lookup(state.pane(0, 60_000), 'a'), 1)
  })

  test('hopping windows with number keys give the same rows straight through and across restarts', async () => {
    const build = () =>
      pipeline('hop-numbers')
        .from(memorySource('s'))
        .parse(z.object({ user: z.number(), v: z.number(), at: z.string() }))
        .withWatermark('at', '0s')
        .keyBy((r) => r.user)
        .window(hopping('1m', '30s'))
        .aggregate(aggregates({ n: count(), v: sum((r: { v: number }) => r.v) }), { outputMode: 'append' })
        .to(memory())
    const events = [
      [
        { user: 2, v: 1, at: at(5) },
        { user: 10, v: 2, at: at(20) },
      ],
      [
        { user: 2, v: 3, at: at(40) },
        { user: 2, v: 4, at: at(70) },
      ],
      [
        { user: 10, v: 5, at: at(95) },
        { user: 3, v: 6, at: at(200) },
      ],
      [], // the watermark of this batch closes the windows before 200 s
    ]
    const straight = await TestDriver.create(build(), { startTime: T0 })
    const restarted = await TestDriver.create(build(), { startTime: T0 })
    const spilled = await TestDriver.create(build(), { startTime: T0, stateCacheEntries: 1 })
    for (const batch of events) {
      straight.send(batch).runBatch()
      restarted.send(batch).runBatch()
      await restarted.restart()
      spilled.send(batch).runBatch()
    }
    assert.deepEqual(restarted.output, straight.output)
    assert.deepEqual(spilled.output, straight.output)
    const rows = straight.output
    // Closed windows of the first 200 s, ordered by window then key (numbers compare as numbers: 2 < 10);
    // the same rows the earlier cell store produced for this input.
    assert.deepEqual(
      rows.map((r) => [r.window_start, r.key, r.n, r.v]),
      [
        [at(-30), 2, 1, 1],
        [at(-30), 10, 1, 2],
        [at(0), 2, 2, 4],
        [at(0), 10, 1, 2],
        [at(30), 2, 2, 7],
        [at(60), 2, 1, 4],
        [at(60), 10, 1, 5],
        [at(90), 10, 1, 5],
      ],
    )
    assert.ok(rows.every((r) => typeof r.key === 'number'))
  })
})
