import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { z } from 'zod'
import { aggregates, count, countDistinct, max, sum } from '../../../src/aggregate/index.ts'
import { mysql } from '../../../src/connectors/mysql/index.ts'
import { memorySource } from '../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { run } from '../../../src/runtime/run.ts'
import { tumbling } from '../../../src/window/index.ts'
import { useMariaDb, utc } from './util.ts'

const db = useMariaDb()

const T0 = Date.parse('2026-03-02T09:00:00Z')
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

const View = z.object({ page: z.string(), user: z.string(), cents: z.number().int(), t: z.iso.datetime() })
type View = z.infer<typeof View>

/** 20 000 views over about 33 minutes of event time, a few seconds out of order, on three partitions. */
const rnd = mulberry32(7)
const views: View[] = Array.from({ length: 20_000 }, (_, i) => ({
  page: `/p/${Math.floor(rnd() * 12)}`,
  user: `u${Math.floor(rnd() * 300)}`,
  cents: Math.floor(rnd() * 10_000),
  t: new Date(T0 + i * 100 + Math.floor(rnd() * 5000)).toISOString(),
}))

describe('mysql sink, upsert', () => {
  test('a windowed aggregate in update mode ends equal to an independent computation', async () => {
    const p = pipeline('page-minutes')
      .from(
        memorySource(
          'views',
          views.map((v, i) => ({ value: JSON.stringify(v), partition: `p${i % 3}` })),
        ),
      )
      .parse(View)
      .withWatermark('t', '30s')
      .keyBy((v) => v.page)
      .window(tumbling('1m'))
      .aggregate(
        aggregates({
          views: count<View>(),
          revenue: sum((v: View) => v.cents),
          users: countDistinct((v: View) => v.user),
          last: max((v: View) => v.t),
        }),
        { outputMode: 'update' },
      )
      .to(
        mysql({
          url: db.server.url,
          table: 'page_minutes',
          mode: 'upsert',
          key: ['key', 'window_start'],
          createTable: true,
        }),
      )
    let emitted = 0
    const summary = await run(p, {
      checkpoint: await db.checkpoint(),
      trigger: { kind: 'availableNow' },
      maxBatchRecords: 400,
      onProgress: (progress) => {
        emitted += progress.outputRows
      },
    })
    assert.equal(summary.lateRows, 0)
    assert.equal(summary.deadLetteredRows, 0)

    // The plain loop.
    const expected = new Map<string, { views: number; revenue: number; users: Set<string>; last: string }>()
    for (const v of views) {
      const start = Math.floor(Date.parse(v.t) / MIN) * MIN
      const k = `${v.page}|${start}`
      const cell = expected.get(k) ?? { views: 0, revenue: 0, users: new Set<string>(), last: v.t }
      cell.views++
      cell.revenue += v.cents
      cell.users.add(v.user)
      if (v.t > cell.last) cell.last = v.t
      expected.set(k, cell)
    }
    assert.ok(
      emitted > expected.size * 1.5,
      `windows were updated in place (${emitted} rows for ${expected.size} windows)`,
    )

    const rows = await db.query<{
      key: string
      window_start: string
      window_end: string
      views: number
      revenue: number
      users: number
      last: string
    }>('SELECT * FROM page_minutes')
    assert.equal(rows.length, expected.size)
    for (const r of rows) {
      const start = utc(r.window_start)
      const cell = expected.get(`${r.key}|${start}`)
      assert.ok(cell, `window ${r.key} ${r.window_start} exists`)
      assert.equal(utc(r.window_end), start + MIN)
      assert.equal(r.views, cell.views)
      assert.equal(r.revenue, cell.revenue)
      assert.equal(r.users, cell.users.size)
      // max() of strings declares no type: the column is text and holds the ISO string itself.
      assert.equal(r.last, cell.last)
    }

    // The same in SQL over the raw views.
    await db.query(
      'CREATE TABLE raw_views (page VARCHAR(32), user VARCHAR(32), cents INT, t DATETIME(3)) ENGINE=InnoDB',
    )
    await run(
      pipeline('raw-views')
        .from(memorySource('views-raw', views))
        .map((v) => v)
        .to(mysql<View>({ url: db.server.url, table: 'raw_views' })),
      { checkpoint: await db.checkpoint(), trigger: { kind: 'availableNow' } },
    )
    const diff = await db.query(
      `SELECT * FROM (
         SELECT page, FROM_UNIXTIME(FLOOR(UNIX_TIMESTAMP(t) / 60) * 60) AS ws, COUNT(*) AS n, SUM(cents) AS s,
                COUNT(DISTINCT user) AS u
           FROM raw_views GROUP BY page, ws) q
       LEFT JOIN page_minutes m ON m.key = q.page AND m.window_start = q.ws
       WHERE m.key IS NULL OR m.views <> q.n OR m.revenue <> q.s OR m.users <> q.u`,
    )
    assert.deepEqual(diff, [])

    const types = await db.query<{ c: string; t: string; k: string; coll: string | null }>(
      `SELECT COLUMN_NAME AS c, COLUMN_TYPE AS t, COLUMN_KEY AS k, COLLATION_NAME AS coll FROM information_schema.COLUMNS
        WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'page_minutes' ORDER BY ORDINAL_POSITION`,
    )
    // The window declares its rows: timestamps for the window, count() integers, sum() numbers (DOUBLE even
    // where every sum so far is whole); max() of strings declares nothing, so text.
    assert.deepEqual(
      types.sort((a, b) => a.c.localeCompare(b.c)),
      [
        { c: 'key', t: 'varchar(255)', k: 'PRI', coll: 'utf8mb4_nopad_bin' },
        { c: 'last', t: 'longtext', k: '', coll: 'utf8mb4_general_ci' },
        { c: 'revenue', t: 'double', k: '', coll: null },
        { c: 'users', t: 'bigint(20)', k: '', coll: null },
        { c: 'views', t: 'bigint(20)', k: '', coll: null },
        { c: 'window_end', t: 'datetime(3)', k: '', coll: null },
        { c: 'window_start', t: 'datetime(3)', k: 'PRI', coll: null },
      ],
    )
  })
})
