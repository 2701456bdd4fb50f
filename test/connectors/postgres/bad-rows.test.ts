import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { z } from 'zod'
import { PostgresError, postgres } from '../../../src/connectors/postgres/index.ts'
import { memorySource } from '../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { run } from '../../../src/runtime/run.ts'
import { tempDir, useDatabase } from './util.ts'

const { db, sql } = useDatabase()

const Item = z.object({
  id: z.number(),
  name: z.string().nullable(),
  qty: z.union([z.number(), z.string()]),
})
type Item = z.infer<typeof Item>

/** 100 good items, with the bad ones placed at the given ids. */
function items(bad: Readonly<Record<number, Partial<Item>>>): string[] {
  return Array.from({ length: 100 }, (_, id) =>
    JSON.stringify({ id, name: `n${id % 10}`, qty: id, ...bad[id] }),
  )
}

const BAD = {
  10: { name: null }, // NOT NULL
  20: { name: 'too long' }, // varchar(5)
  30: { qty: 'abc' }, // not an integer
  40: { qty: 1e12 }, // out of range for integer
  41: { qty: '7' }, // a string the column reads: fine
}

interface Letter {
  batch_id: string
  operator: string
  reason: string
  sqlstate: string | null
  raw_text: string | null
  raw: Buffer | null
  source_partition: string | null
}

describe('postgres sink: rows the table rejects', () => {
  test('go to the dead-letter table with the database message; the rest of the batch commits', async () => {
    await sql('CREATE TABLE items (id bigint PRIMARY KEY, name varchar(5) NOT NULL, qty integer)')
    const input = [...items(BAD), '{"id": 1000, "name": "x", "qty": ', '{"id": "nope"}']
    const p = pipeline('pg-bad-rows')
      .from(memorySource('items', input))
      .parse(Item)
      .to(postgres({ url: db().url, table: 'items' }))
    const summary = await run(p, {
      checkpoint: await tempDir(),
      trigger: { kind: 'availableNow' },
      maxBatchRecords: 35,
    })
    assert.equal(summary.inputRows, 102)

    const ids = (await sql<{ id: string }>('SELECT id FROM items ORDER BY id')).map((r) => Number(r.id))
    assert.deepEqual(
      ids,
      Array.from({ length: 100 }, (_, i) => i).filter((i) => ![10, 20, 30, 40].includes(i)),
    )
    const [qty41] = await sql<{ qty: number }>('SELECT qty FROM items WHERE id = 41')
    assert.equal(qty41?.qty, 7)

    const letters = await sql<Letter>('SELECT * FROM sluice_dead_letters ORDER BY id')
    const fromSink = letters.filter((l) => l.operator === 'sink:items')
    assert.deepEqual(
      fromSink.map((l) => JSON.parse(l.raw_text ?? '{}').id),
      [10, 20, 30, 40],
    )
    assert.match(
      fromSink[0]!.reason,
      /null value in column "name" of relation "items" violates not-null constraint/,
    )
    assert.equal(fromSink[0]!.sqlstate, '23502')
    assert.match(fromSink[1]!.reason, /value too long for type character varying\(5\)/)
    assert.equal(fromSink[1]!.sqlstate, '22001')
    assert.match(fromSink[2]!.reason, /invalid input syntax for type integer: "abc"/)
    assert.equal(fromSink[2]!.sqlstate, '22P02')
    assert.match(fromSink[3]!.reason, /out of range for type integer/)
    assert.deepEqual(
      fromSink.map((l) => Number(l.batch_id)),
      [0, 0, 0, 1],
    )
    // The engine's own dead letters (parse) land in the same table with their raw bytes.
    const parse = letters.filter((l) => l.operator !== 'sink:items')
    assert.equal(parse.length, 2)
    assert.equal(parse[0]?.raw_text, '{"id": 1000, "name": "x", "qty": ')
    assert.ok(parse.every((l) => l.source_partition === 'memory'))
  })

  test('upsert isolates rows that fail in the INSERT (null key) as well as in the COPY (too long)', async () => {
    await sql('CREATE TABLE stock (sku text PRIMARY KEY, label varchar(3), n bigint NOT NULL)')
    await sql("INSERT INTO stock VALUES ('a', 'old', 1)")
    const rows = [
      { sku: 'a', label: 'new', n: 2 },
      { sku: null, label: 'x', n: 3 },
      { sku: 'b', label: 'toolong', n: 4 },
      { sku: 'c', label: 'c', n: null },
      { sku: 'd', label: 'd', n: 5 },
      { sku: 'a', label: 'end', n: 6 }, // the last row of a key wins
    ]
    const Stock = z.object({ sku: z.string().nullable(), label: z.string(), n: z.number().nullable() })
    const p = pipeline('pg-bad-upsert')
      .from(memorySource('stock', rows))
      .map((r) => Stock.parse(r))
      .to(
        postgres({
          url: db().url,
          table: 'stock',
          mode: 'upsert',
          key: ['sku'],
          deadLetterTable: 'stock_rejects',
        }),
      )
    await run(p, { checkpoint: await tempDir(), trigger: { kind: 'availableNow' } })
    assert.deepEqual(await sql('SELECT sku, label, n::int FROM stock ORDER BY sku'), [
      { sku: 'a', label: 'end', n: 6 },
      { sku: 'd', label: 'd', n: 5 },
    ])
    const letters = await sql<Letter>('SELECT * FROM stock_rejects ORDER BY id')
    assert.deepEqual(
      letters.map((l) => l.sqlstate),
      ['23502', '22001', '23502'],
    )
    assert.match(letters[0]!.reason, /null value in column "sku"/)
    assert.match(letters[2]!.reason, /null value in column "n"/)
  })

  test('upsert: two spellings of one timestamp key in a batch end as the last row, not as an error', async () => {
    await sql('CREATE TABLE by_time (at timestamptz PRIMARY KEY, v bigint)')
    const p = pipeline('pg-same-key')
      .from(
        memorySource('rows', [
          { at: '2026-11-25T10:00:00Z', v: 1 },
          { at: '2026-11-25T11:00:00Z', v: 2 },
          { at: '2026-11-25T10:00:00.000+00:00', v: 3 },
        ]),
      )
      .map((r) => r as { at: string; v: number })
      .to(postgres({ url: db().url, table: 'by_time', mode: 'upsert', key: ['at'] }))
    await run(p, { checkpoint: await tempDir(), trigger: { kind: 'availableNow' } })
    assert.deepEqual(
      (await sql<{ at: Date; v: string }>('SELECT at, v FROM by_time ORDER BY at')).map((r) => [
        r.at.toISOString(),
        r.v,
      ]),
      [
        ['2026-11-25T10:00:00.000Z', '3'],
        ['2026-11-25T11:00:00.000Z', '2'],
      ],
    )
    assert.deepEqual(await sql("SELECT * FROM sluice_dead_letters WHERE pipeline_id = 'pg-same-key'"), [])
  })

  test("onError 'fail' stops with the row and the database message, writing nothing of the batch", async () => {
    await sql('CREATE TABLE strict_items (id bigint PRIMARY KEY, name varchar(5) NOT NULL, qty integer)')
    const p = pipeline('pg-fail')
      .from(memorySource('items', items({ 47: { name: 'way too long' }, 60: { name: null } })))
      .parse(Item)
      .to(postgres({ url: db().url, table: 'strict_items', onError: 'fail' }))
    await assert.rejects(
      run(p, { checkpoint: await tempDir(), trigger: { kind: 'availableNow' }, maxBatchRecords: 40 }),
      (error: unknown) => {
        assert.ok(error instanceof PostgresError)
        assert.equal(error.domain, 'user')
        assert.equal(error.retryable, false)
        assert.equal(error.sqlState, '22001')
        assert.match(
          error.message,
          /table strict_items rejected the row at index 7 of batch 1: value too long for type character varying\(5\)/,
        )
        return true
      },
    )
    // Batch 0 (ids 0-39) committed; nothing of batch 1.
    const [n] = await sql<{ n: string; max: string }>(
      'SELECT count(*) AS n, max(id) AS max FROM strict_items',
    )
    assert.deepEqual(n, { n: '40', max: '39' })
    const [offsets] = await sql<{ batch_id: string }>(
      "SELECT batch_id FROM sluice_offsets WHERE pipeline_id = 'pg-fail'",
    )
    assert.equal(offsets?.batch_id, '0')
    assert.deepEqual(await sql("SELECT * FROM sluice_dead_letters WHERE pipeline_id = 'pg-fail'"), [])
  })

  test('many bad rows in a large batch are isolated quickly', async () => {
    await sql('CREATE TABLE many (id bigint, name varchar(5) NOT NULL, qty integer)')
    const bad: Record<number, Partial<Item>> = {}
    for (let i = 0; i < 20_000; i += 97) bad[i] = i % 2 ? { name: null } : { qty: 'x' }
    const input = Array.from({ length: 20_000 }, (_, id) => ({ id, name: 'ok', qty: 1, ...bad[id] }))
    const p = pipeline('pg-many-bad')
      .from(memorySource('many', input))
      .map((r) => r as Item)
      .to(postgres({ url: db().url, table: 'many' }))
    const started = performance.now()
    await run(p, { checkpoint: await tempDir(), trigger: { kind: 'availableNow' }, maxBatchRecords: 20_000 })
    const ms = performance.now() - started
    const [counts] = await sql<{ n: string }>('SELECT count(*) AS n FROM many')
    const [letters] = await sql<{ n: string }>(
      "SELECT count(*) AS n FROM sluice_dead_letters WHERE pipeline_id = 'pg-many-bad'",
    )
    assert.equal(Number(counts?.n), 20_000 - Object.keys(bad).length)
    assert.equal(Number(letters?.n), Object.keys(bad).length)
    assert.ok(ms < 20_000, `took ${ms} ms`)
  })
})
