import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { z } from 'zod'
import { aggregates, approxCountDistinct, count, countDistinct, max, sum } from '../../src/aggregate/index.ts'
import { staticTable } from '../../src/connectors/tables/static-table.ts'
import { memory } from '../../src/connectors/testing/memory.ts'
import { memorySource } from '../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { TestDriver } from '../../src/testing/test-driver.ts'
import { hopping, session, tumbling } from '../../src/window/index.ts'

const T0 = Date.parse('2026-11-25T10:00:00Z')
const MIN = 60_000

function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface View {
  page: string
  user: string
  price: number
  t: number
}

const View = z.object({ page: z.string(), user: z.string(), price: z.number(), t: z.number() })

/** Random views over 20 minutes, shuffled within a few seconds (bounded disorder) and split into batches. */
function randomViews(seed: number, n: number): View[][] {
  const rnd = mulberry32(seed)
  const views: View[] = []
  for (let i = 0; i < n; i++) {
    const t = T0 + Math.floor((i / n) * 20 * MIN) + Math.floor(rnd() * 4000) - 2000
    views.push({
      page: `/p${Math.floor(rnd() * 7)}`,
      user: `u${Math.floor(rnd() * 40)}`,
      price: Math.floor(rnd() * 100),
      t,
    })
  }
  const batches: View[][] = []
  for (let i = 0; i < views.length; i += 97) batches.push(views.slice(i, i + 97))
  return batches
}

function perMinuteReference(views: View[], watermarkDelay: number) {
  // Independent computation: replay the watermark rule (max event time − delay, per batch) with a plain loop.
  const out = new Map<string, { views: number; revenue: number; users: Set<string> }>()
  for (const v of views) {
    const start = Math.floor(v.t / MIN) * MIN
    const k = `${v.page}|${start}`
    const cell = out.get(k) ?? { views: 0, revenue: 0, users: new Set<string>() }
    cell.views++
    cell.revenue += v.price
    cell.users.add(v.user)
    out.set(k, cell)
  }
  void watermarkDelay
  return out
}

function viewsPipeline(outputMode: 'append' | 'update' | 'complete') {
  return pipeline('views')
    .from(memorySource('views'))
    .parse(View)
    .withWatermark('t', '10s')
    .keyBy((v) => v.page)
    .window(tumbling('1m'))
    .aggregate(
      aggregates({
        views: count(),
        revenue: sum((v: View) => v.price),
        users: countDistinct((v: View) => v.user),
      }),
      { outputMode },
    )
    .to(memory())
}

async function runViews(batches: View[][], mode: 'append' | 'update' | 'complete', restartEvery?: number) {
  const driver = await TestDriver.create(viewsPipeline(mode), { startTime: T0 })
  for (const [i, batch] of batches.entries()) {
    driver.send(batch)
    driver.advanceTime(1000)
    driver.runBatch()
    if (restartEvery && i % restartEvery === restartEvery - 1) await driver.restart()
  }
  // Far past the last event: everything closes.
  driver.send({ page: '/end', user: 'x', price: 0, t: T0 + 60 * MIN })
  driver.runBatch()
  driver.runBatch()
  return driver
}

describe('tumbling windows', () => {
  test('append mode emits each closed window once, equal to an independent computation', async () => {
    const batches = randomViews(7, 5000)
    const driver = await runViews(batches, 'append')
    const reference = perMinuteReference(batches.flat(), 10_000)
    const rows = driver.output.filter((r) => r.key !== '/end')
    assert.equal(driver.deadLetters.length, 0, 'bounded disorder of 2 s is within the 10 s watermark delay')
    assert.equal(rows.length, reference.size)
    for (const row of rows) {
      const ref = reference.get(`${row.key}|${Date.parse(row.window_start)}`)
      assert.ok(ref, `unexpected window ${row.key} ${row.window_start}`)
      assert.equal(row.views, ref.views)
      assert.equal(row.revenue, ref.revenue)
      assert.equal(row.users, ref.users.size)
      assert.equal(Date.parse(row.window_end) - Date.parse(row.window_start), MIN)
    }
  })

  test('results are identical straight through and with a checkpoint-restore every 3 batches', async () => {
    const batches = randomViews(11, 3000)
    const straight = await runViews(batches, 'append')
    const restored = await runViews(batches, 'append', 3)
    assert.deepEqual(restored.output, straight.output)
  })

  test('update mode emits changed windows each batch; the last update equals the final value', async () => {
    const batches = randomViews(3, 2000)
    const driver = await runViews(batches, 'update')
    const reference = perMinuteReference(batches.flat(), 10_000)
    const last = new Map<string, (typeof driver.output)[number]>()
    for (const row of driver.output) last.set(`${row.key}|${Date.parse(row.window_start)}`, row)
    for (const [k, ref] of reference) assert.equal(last.get(k)?.views, ref.views, k)
    assert.ok(driver.output.length > reference.size, 'windows were updated more than once')
  })

  test('complete mode emits every window every batch', async () => {
    const batches = randomViews(5, 500).slice(0, 3)
    const driver = await TestDriver.create(viewsPipeline('complete'), { startTime: T0 })
    let expectedTotal = 0
    const seen = new Set<string>()
    for (const batch of batches) {
      for (const v of batch) seen.add(`${v.page}|${Math.floor(v.t / MIN)}`)
      driver.send(batch)
      const out = driver.runBatch()
      expectedTotal += seen.size
      assert.equal(out.rows.length, seen.size)
    }
    assert.equal(driver.output.length, expectedTotal)
  })

  test('late records behind the watermark are counted and dead-lettered, not aggregated', async () => {
    const driver = await TestDriver.create(viewsPipeline('append'), { startTime: T0 })
    driver.send({ page: '/a', user: 'u', price: 1, t: T0 + 5 * MIN })
    driver.runBatch()
    driver.send({ page: '/a', user: 'u', price: 1, t: T0 + MIN })
    const out = driver.runBatch()
    assert.equal(out.counters.lateRows, 1)
    assert.match(
      driver.deadLetters[0]?.reason ?? '',
      /^late: event time 2026-11-25T10:01:00.000Z is behind the watermark/,
    )
  })

  test('hopping windows count each event in size/slide windows', async () => {
    const p = pipeline('hop')
      .from(memorySource('hop'))
      .parse(View)
      .withWatermark('t', '0s')
      .keyBy(() => 'all')
      .window(hopping('5m', '1m'))
      .aggregate(aggregates({ n: count(), top: max((v: View) => v.price) }))
      .to(memory())
    const driver = await TestDriver.create(p, { startTime: T0 })
    driver.send({ page: '/', user: 'u', price: 3, t: T0 + 2 * MIN + 1 })
    driver.runBatch()
    driver.send({ page: '/', user: 'u', price: 0, t: T0 + 30 * MIN })
    driver.runBatch()
    driver.runBatch()
    const windows = driver.output.filter((r) => r.n === 1 && r.top === 3).map((r) => r.window_start)
    assert.deepEqual(
      windows,
      [-2, -1, 0, 1, 2].map((m) => new Date(T0 + m * MIN).toISOString()),
    )
  })
})

describe('session windows', () => {
  test('sessions per user equal a brute-force split on gaps, in any arrival order', async () => {
    const rnd = mulberry32(42)
    const times = new Map<string, number[]>()
    const events: View[] = []
    for (let i = 0; i < 1500; i++) {
      const user = `u${Math.floor(rnd() * 12)}`
      const t = T0 + Math.floor(rnd() * 6 * 3600_000)
      events.push({ page: '/', user, price: 1, t })
      times.set(user, [...(times.get(user) ?? []), t])
    }
    const gap = 30 * MIN
    const expected: string[] = []
    for (const [user, ts] of times) {
      ts.sort((a, b) => a - b)
      let start = ts[0]!
      let prev = start
      let n = 1
      for (const t of ts.slice(1)) {
        if (t - prev >= gap) {
          expected.push(`${user} ${start} ${prev + gap} ${n}`)
          start = t
          n = 0
        }
        prev = t
        n++
      }
      expected.push(`${user} ${start} ${prev + gap} ${n}`)
    }
    const p = pipeline('sessions')
      .from(memorySource('s'))
      .parse(View)
      .withWatermark('t', '7h')
      .keyBy((v) => v.user)
      .window(session('30m'))
      .aggregate(count())
      .to(memory())
    const driver = await TestDriver.create(p, { startTime: T0 })
    for (let i = 0; i < events.length; i += 100) {
      driver.send(events.slice(i, i + 100))
      driver.runBatch()
      if (i === 700) await driver.restart()
    }
    driver.send({ page: '/', user: 'end', price: 0, t: T0 + 24 * 3600_000 })
    driver.runBatch()
    driver.runBatch()
    const got = driver.output
      .filter((r) => r.key !== 'end')
      .map((r) => `${r.key} ${Date.parse(r.window_start)} ${Date.parse(r.window_end)} ${r.value}`)
    assert.deepEqual(got.sort(), expected.sort())
  })
})

describe('idle timeout, dedupe, join', () => {
  test('with an idle timeout, windows close when traffic stops', async () => {
    const build = (idle?: string) =>
      pipeline('idle')
        .from(memorySource('idle'))
        .parse(View)
        .withWatermark('t', '5s', idle ? { idleTimeout: idle } : {})
        .keyBy((v) => v.page)
        .window(tumbling('1m'))
        .aggregate(count())
        .to(memory())
    for (const idle of [undefined, '30s']) {
      const driver = await TestDriver.create(build(idle), { startTime: T0 + 10_000 })
      driver.send({ page: '/a', user: 'u', price: 1, t: T0 + 10_000 })
      driver.runBatch()
      driver.advanceTime(5 * MIN)
      driver.runBatch()
      driver.runBatch()
      assert.equal(driver.output.length, idle ? 1 : 0, `idleTimeout=${idle}`)
    }
  })

  test('dedupe drops repeats within the window and forgets keys behind the watermark', async () => {
    const p = pipeline('dedupe')
      .from(memorySource('d'))
      .parse(z.object({ id: z.string(), t: z.number() }))
      .withWatermark('t', '0s')
      .dedupe((e) => e.id, '10m')
      .to(memory())
    const driver = await TestDriver.create(p, { startTime: T0 })
    driver.send([
      { id: 'a', t: T0 },
      { id: 'a', t: T0 + MIN },
      { id: 'b', t: T0 + MIN },
    ])
    const first = driver.runBatch()
    assert.equal(first.counters.duplicateRows, 1)
    driver.send([{ id: 'a', t: T0 + 11 * MIN }])
    driver.runBatch()
    assert.deepEqual(
      driver.output.map((e) => e.id),
      ['a', 'b', 'a'],
    )
  })

  test('stream–table join enriches, inner drops unknown keys, left keeps them', async () => {
    const products = staticTable('products', [{ id: 'p1', category: 'books' }], (r) => r.id)
    const base = pipeline('join')
      .from(memorySource('j'))
      .parse(z.object({ product: z.string() }))
    const inner = base
      .join(
        products,
        (e) => e.product,
        (e, p) => ({ ...e, category: p.category }),
      )
      .to(memory())
    const left = base
      .join(
        products,
        (e) => e.product,
        (e, p) => ({ ...e, category: p?.category ?? null }),
        { how: 'left' },
      )
      .to(memory())
    for (const [p, expected] of [
      [inner, [{ product: 'p1', category: 'books' }]],
      [
        left,
        [
          { product: 'p1', category: 'books' },
          { product: 'p9', category: null },
        ],
      ],
    ] as const) {
      const driver = await TestDriver.create(p as typeof inner)
      driver.send([{ product: 'p1' }, { product: 'p9' }])
      driver.runBatch()
      assert.deepEqual(driver.output, expected)
    }
  })

  test('approxCountDistinct stays within 3 standard errors on 20k users', async () => {
    const p = pipeline('hll')
      .from(memorySource('h'))
      .parse(View)
      .withWatermark('t', '0s')
      .keyBy(() => 'all')
      .window(tumbling('1h'))
      .aggregate(aggregates({ users: approxCountDistinct((v: View) => v.user) }), { outputMode: 'update' })
      .to(memory())
    const driver = await TestDriver.create(p, { startTime: T0 })
    driver.send(
      Array.from({ length: 20_000 }, (_, i) => ({ page: '/', user: `user-${i}`, price: 0, t: T0 + i })),
    )
    driver.runBatch()
    const users = driver.output[0]!.users
    assert.ok(Math.abs(users - 20_000) / 20_000 < 3 * (1.04 / Math.sqrt(2 ** 14)), `estimate ${users}`)
  })
})
