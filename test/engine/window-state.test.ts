import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { z } from 'zod'
import { aggregates, count, sum } from '../../src/aggregate/index.ts'
import { memory } from '../../src/connectors/testing/memory.ts'
import { memorySource } from '../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { WindowState } from '../../src/state/window-state.ts'
import { TestDriver } from '../../src/testing/test-driver.ts'
import { hopping } from '../../src/window/index.ts'

const T0 = Date.parse('2026-11-25T10:00:00Z')
const at = (s: number) => new Date(T0 + s * 1000).toISOString()

const sumCodec = {
  encode: (acc: number) => acc,
  decode: (snapshot: unknown) => snapshot as number,
}

describe('window state grouped by window', () => {
  test('checkpoint entries keep the KeyedState format: "key\\0start" → { key, start, end, acc }', () => {
    const state = new WindowState<number>('w', sumCodec)
    const pane = state.pane(60_000, 120_000)
    state.set(pane, 'a', 'a', 1)
    state.set(pane, 7, '7', 2)
    assert.equal(state.size, 2)
    assert.deepEqual(state.drainChanges(), {
      upserts: [
        ['a\u000060000', { key: 'a', start: 60_000, end: 120_000, acc: 1 }],
        ['7\u000060000', { key: 7, start: 60_000, end: 120_000, acc: 2 }],
      ],
      deletes: [],
    })
    assert.deepEqual(state.drainChanges(), { upserts: [], deletes: [] })
    state.deletePane(pane)
    assert.equal(state.size, 0)
    assert.deepEqual(state.drainChanges(), { upserts: [], deletes: ['a\u000060000', '7\u000060000'] })
  })

  test('entries written by the earlier cell store load, numeric keys stay numbers', () => {
    const state = new WindowState<number>('w', sumCodec)
    state.load([
      ['a\u00000', { key: 'a', start: 0, end: 60_000, acc: 3 }],
      ['5\u00000', { key: 5, start: 0, end: 60_000, acc: 4 }],
      ['a\u000060000', { key: 'a', start: 60_000, end: 120_000, acc: 1 }],
    ])
    assert.equal(state.size, 3)
    const first = state.pane(0, 60_000)
    assert.equal(first.accs.get('5'), 4)
    assert.equal(state.keyOf(first, '5'), 5)
    assert.equal(state.keyOf(first, 'a'), 'a')
    assert.deepEqual(state.drainChanges(), { upserts: [], deletes: [] })
    assert.deepEqual([...state.encodedEntries()].length, 3)
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
    for (const batch of events) {
      straight.send(batch).runBatch()
      restarted.send(batch).runBatch()
      await restarted.restart()
    }
    assert.deepEqual(restarted.output, straight.output)
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
