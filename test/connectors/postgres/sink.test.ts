import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { z } from 'zod'
import { aggregates, count, sum } from '../../../src/aggregate/index.ts'
import { postgres } from '../../../src/connectors/postgres/index.ts'
import { memorySource } from '../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { run } from '../../../src/runtime/run.ts'
import { tumbling } from '../../../src/window/index.ts'
import { type Click, clicks, T0, tempDir, useDatabase } from './util.ts'

const { db, sql } = useDatabase()

const ClickSchema = z.object({
  id: z.int(),
  user: z.string(),
  page: z.string(),
  event_time: z.iso.datetime(),
  price: z.number(),
  ok: z.boolean(),
  meta: z.object({ ref: z.string().nullable(), tags: z.array(z.string()) }),
})

describe('postgres sink', () => {
  test('append: every row exactly once, with the position in the same database', async () => {
    const input = clicks(5000)
    const p = pipeline('pg-append')
      .from(memorySource('clicks', input))
      .parse(ClickSchema)
      .to(postgres({ url: db().url, table: 'clicks', createTable: true }))
    const checkpoint = await tempDir()
    const summary = await run(p, { checkpoint, trigger: { kind: 'availableNow' }, maxBatchRecords: 700 })
    assert.equal(summary.inputRows, 5000)
    assert.ok(summary.batches >= 8)

    const types = await sql<{ column_name: string; data_type: string }>(
      "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'clicks' ORDER BY ordinal_position",
    )
    assert.deepEqual(Object.fromEntries(types.map((t) => [t.column_name, t.data_type])), {
      id: 'bigint',
      user: 'text',
      page: 'text',
      event_time: 'timestamp with time zone',
      price: 'double precision',
      ok: 'boolean',
      meta: 'jsonb',
    })
    const rows = await sql<{
      id: string
      user: string
      page: string
      event_time: Date
      price: number
      ok: boolean
      meta: Click['meta']
    }>('SELECT * FROM clicks ORDER BY id')
    const expected = input.map((r) => JSON.parse(r.value) as Click)
    assert.equal(rows.length, expected.length)
    assert.deepEqual(
      rows.map((r) => ({ ...r, id: Number(r.id), event_time: r.event_time.toISOString() })),
      expected,
    )
    const [offsets] = await sql<{ batch_id: string; positions: Record<string, number> }>(
      "SELECT batch_id, positions FROM sluice_offsets WHERE pipeline_id = 'pg-append'",
    )
    assert.equal(Number(offsets?.batch_id), summary.batches - 1)
    assert.deepEqual(offsets?.positions, { p0: 1667, p1: 1667, p2: 1666 })

    // Running again over the same checkpoint writes nothing new.
    await run(p, { checkpoint, trigger: { kind: 'availableNow' }, maxBatchRecords: 700 })
    const [n] = await sql<{ n: string }>('SELECT count(*) AS n FROM clicks')
    assert.equal(Number(n?.n), 5000)
  })

  test('upsert: a windowed aggregate in update mode ends equal to an independent computation', async () => {
    const Row = z.object({ k: z.string(), t: z.number(), n: z.number() })
    const input = Array.from({ length: 3000 }, (_, i) => ({
      value: { k: `k${(i * 7) % 11}`, t: T0 + i * 700, n: (i % 13) + 0.25 },
      partition: `p${i % 2}`,
    }))
    const table = postgres({
      url: db().url,
      table: 'analytics.page_metrics',
      mode: 'upsert',
      key: ['key', 'window_start'],
      createTable: true,
    })
    const p = pipeline('pg-upsert')
      .from(memorySource('rows', input))
      .parse(Row)
      .withWatermark('t', '10s')
      .keyBy((r) => r.k)
      .window(tumbling('1m'))
      .aggregate(
        aggregates({ views: count<z.infer<typeof Row>>(), total: sum((r: z.infer<typeof Row>) => r.n) }),
        {
          outputMode: 'update',
        },
      )
      .to(table)
    const summary = await run(p, {
      checkpoint: await tempDir(),
      trigger: { kind: 'availableNow' },
      maxBatchRecords: 150,
    })
    assert.ok(summary.outputRows > 0)

    const expected = new Map<string, { views: number; total: number }>()
    for (const { value } of input) {
      const start = new Date(Math.floor(value.t / 60_000) * 60_000).toISOString()
      const id = `${value.k}|${start}`
      const acc = expected.get(id) ?? { views: 0, total: 0 }
      acc.views++
      acc.total += value.n
      expected.set(id, acc)
    }
    const rows = await sql<{
      key: string
      window_start: Date
      window_end: Date
      views: string
      total: number
    }>('SELECT * FROM analytics.page_metrics')
    assert.equal(rows.length, expected.size)
    assert.ok(summary.outputRows > rows.length, 'windows were updated across batches')
    for (const row of rows) {
      const want = expected.get(`${row.key}|${row.window_start.toISOString()}`)
      assert.ok(want, `unexpected window ${row.key} ${row.window_start.toISOString()}`)
      assert.equal(Number(row.views), want.views)
      assert.ok(Math.abs(row.total - want.total) < 1e-6)
      assert.equal(row.window_end.getTime() - row.window_start.getTime(), 60_000)
    }
    const pk = await sql<{ def: string }>(
      "SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = 'analytics.page_metrics'::regclass AND contype = 'p'",
    )
    assert.deepEqual(pk, [{ def: 'PRIMARY KEY (key, window_start)' }])
    // Offsets and dead letters live next to the table.
    const [offsets] = await sql<{ batch_id: string }>(
      "SELECT batch_id FROM analytics.sluice_offsets WHERE pipeline_id = 'pg-upsert'",
    )
    assert.equal(Number(offsets?.batch_id), summary.batches - 1)
  })
})
