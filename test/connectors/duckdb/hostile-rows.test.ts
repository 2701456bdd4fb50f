import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { z } from 'zod'
import { type DuckDBSink, duckdb } from '../../../src/connectors/duckdb/index.ts'
import { memorySource } from '../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { UsageError } from '../../../src/errors.ts'
import { run } from '../../../src/runtime/run.ts'
import {
  assertReasons,
  circular,
  commonHostile,
  goodRows,
  type Hostile,
  nested,
  runHostile,
  wide,
} from '../sql/hostile-rows.ts'

const dirs: string[] = []
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-duckdb-hostile-'))
  dirs.push(dir)
  return dir
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

const availableNow = { kind: 'availableNow' } as const

async function deadLetters(sink: DuckDBSink<unknown>, pipelineId: string) {
  return sink.query(
    'SELECT operator, reason, raw FROM sluice_dead_letters WHERE pipeline_id = $1 ORDER BY dead_lettered_at, rowid',
    [pipelineId],
  )
}

async function columnTypes(sink: DuckDBSink<unknown>, table: string): Promise<Record<string, string>> {
  const rows = await sink.query(
    'SELECT column_name AS c, data_type AS t FROM duckdb_columns() WHERE table_name = $1 ORDER BY column_index',
    [table],
  )
  return Object.fromEntries(rows.map((r) => [String(r.c), String(r.t)]))
}

describe('duckdb sink: rows the table cannot take are dead letters, the pipeline goes on', () => {
  test('null as the first row, names DuckDB refuses or confuses, past maxColumns, too deep, circular', async () => {
    const hostile: Hostile[] = [
      ...commonHostile,
      {
        kind: 'a field that differs from another only in case',
        row: { id: 103, NAME: 'x' },
        reason: /^field "NAME" and column "name" differ only in case, and DuckDB column names ignore case$/,
      },
      {
        kind: 'two fields of one row that differ only in case',
        row: { id: 104, Extra: 1, EXTRA: 2 },
        reason: /^field "EXTRA" and field "Extra" differ only in case/,
      },
      {
        kind: '1700 fields',
        row: wide(105, 1700),
        reason:
          /^the row's new field\(s\) "f0", "f1", "f2", "f3", "f4" and 1695 more would take table main\.hostile past 1600 columns \(maxColumns; it has 4\)$/,
      },
      {
        kind: 'nested 100,000 levels',
        row: { id: 106, name: 'deep', meta: nested(100_000) },
        reason: /^column "meta": the value is nested too deeply to write as JSON/,
      },
      {
        kind: 'circular value',
        row: circular(107),
        reason: /^column "meta": the value is circular, it cannot be written as JSON$/,
      },
    ]
    const dir = await tempDir()
    const sink = duckdb({ path: join(dir, 'w.duckdb'), table: 'hostile' })
    const good = [{ id: 50, name: 'meta', price: 1, meta: { ok: true } }, ...goodRows(12)]
    const { reported } = await runHostile('duckdb-hostile', sink, hostile, good, join(dir, 'checkpoint'))
    assertReasons(
      hostile,
      reported.map((d) => d.reason),
    )
    const letters = await deadLetters(sink, 'duckdb-hostile')
    assertReasons(
      hostile,
      letters.map((d) => String(d.reason)),
    )
    assert.equal(letters[0]?.raw, 'null')
    assert.match(String(letters.at(-1)?.raw), /^\{"id":107,"name":"loop","meta":\{"up":\{"up":/)
    assert.deepEqual(await sink.query('SELECT count(*)::INT AS n FROM hostile'), [{ n: good.length }])
    assert.deepEqual(Object.keys(await columnTypes(sink, 'hostile')), ['id', 'name', 'price', 'meta'])
  })

  test('maxColumns is the user’s to set', async () => {
    const sink = duckdb({ path: ':memory:', table: 'narrow', maxColumns: 3 })
    const rows = [
      { a: 1, b: 2 },
      { a: 1, c: 3 },
      { a: 2, d: 4 },
    ]
    const summary = await run(pipeline('duckdb-max').from(memorySource('rows', rows)).to(sink), {
      checkpoint: await tempDir(),
      trigger: availableNow,
      maxBatchRecords: 1,
    })
    assert.equal(summary.deadLetteredRows, 1)
    assert.deepEqual(
      (await deadLetters(sink, 'duckdb-max')).map((d) => d.reason),
      ['the row\'s new field(s) "d" would take table main.narrow past 3 columns (maxColumns; it has 3)'],
    )
    assert.throws(() => duckdb({ path: ':memory:', table: 't', maxColumns: 0 }), UsageError)
    await sink.close()
  })
})

describe('duckdb sink: column types are declared, never guessed narrower from values', () => {
  test('from the parse step; the widest type for the kind without one', async () => {
    const sink = duckdb({ path: ':memory:', table: 'declared' })
    const Row = z.object({ id: z.int(), amount: z.number(), at: z.iso.datetime(), ok: z.boolean() })
    const values = [{ id: 1, amount: 2, at: '2026-03-02T09:00:00.000Z', ok: true }]
    await run(pipeline('duckdb-declared').from(memorySource('rows', values)).parse(Row).to(sink), {
      checkpoint: await tempDir(),
      trigger: availableNow,
    })
    assert.deepEqual(await columnTypes(sink, 'declared'), {
      id: 'BIGINT',
      amount: 'DOUBLE',
      at: 'TIMESTAMP WITH TIME ZONE',
      ok: 'BOOLEAN',
    })
    const widest = duckdb({ path: ':memory:', table: 'widest' })
    await run(
      pipeline('duckdb-widest')
        .from(memorySource('rows', values))
        .parse(Row)
        .map((r) => ({ ...r, when: new Date(0) }))
        .to(widest),
      { checkpoint: await tempDir(), trigger: availableNow },
    )
    assert.deepEqual(await columnTypes(widest, 'widest'), {
      id: 'DOUBLE',
      amount: 'DOUBLE',
      at: 'VARCHAR',
      ok: 'BOOLEAN',
      when: 'TIMESTAMP WITH TIME ZONE',
    })
    await sink.close()
    await widest.close()
  })

  test('a BIGINT column an older version created: widened by a fraction, unless a value is beyond 2^53 or the table is not the sink’s', async () => {
    const dir = await tempDir()
    const path = join(dir, 'w.duckdb')
    const setup = duckdb({ path, table: 'unused' })
    await setup.query('CREATE TABLE old_totals (k VARCHAR PRIMARY KEY, total BIGINT)')
    await setup.query("INSERT INTO old_totals VALUES ('a', 20)")
    await setup.query('CREATE TABLE big_totals (k VARCHAR PRIMARY KEY, total BIGINT)')
    await setup.query("INSERT INTO big_totals VALUES ('a', 9007199254740993)")
    await setup.query('CREATE TABLE fixed_totals (k VARCHAR PRIMARY KEY, total BIGINT)')
    const rows = [
      { k: 'b', total: 0 },
      { k: 'c', total: 19.99 },
    ]
    const write = async (table: string, options: { createTable?: boolean } = {}) => {
      const sink = duckdb({ path, table, mode: 'upsert', key: ['k'], ...options })
      const summary = await run(pipeline(`duckdb-${table}`).from(memorySource('rows', rows)).to(sink), {
        checkpoint: await tempDir(),
        trigger: availableNow,
      })
      return { sink, summary }
    }

    const widened = await write('old_totals')
    assert.equal(widened.summary.deadLetteredRows, 0)
    assert.equal((await columnTypes(widened.sink, 'old_totals')).total, 'DOUBLE')
    assert.deepEqual(await widened.sink.query('SELECT k, total FROM old_totals ORDER BY k'), [
      { k: 'a', total: 20 },
      { k: 'b', total: 0 },
      { k: 'c', total: 19.99 },
    ])

    const big = await write('big_totals')
    assert.equal(big.summary.deadLetteredRows, 1)
    assert.equal((await columnTypes(big.sink, 'big_totals')).total, 'BIGINT')
    assert.deepEqual(
      (await deadLetters(big.sink, 'duckdb-big_totals')).map((d) => d.reason),
      [
        'column "total" of main.big_totals is BIGINT, and 19.99 is not a whole number; the column holds values ' +
          'beyond 2^53, which DOUBLE would round, so the sink leaves it; widen it yourself (ALTER TABLE ' +
          '"main"."big_totals" ALTER COLUMN "total" TYPE DOUBLE) or write to another column',
      ],
    )

    // Not the sink's table: never changed, and never rounded (DuckDB's cast would make 19.99 a 20).
    const fixed = await write('fixed_totals', { createTable: false })
    assert.equal(fixed.summary.deadLetteredRows, 1)
    assert.deepEqual(await fixed.sink.query('SELECT k, total FROM fixed_totals ORDER BY k'), [
      { k: 'b', total: 0n },
    ])
    assert.match(
      String((await deadLetters(fixed.sink, 'duckdb-fixed_totals'))[0]?.reason),
      /^column "total" of main\.fixed_totals is BIGINT, and 19\.99 is not a whole number; widen it \(ALTER TABLE "main"\."fixed_totals" ALTER COLUMN "total" TYPE DOUBLE\), or let the sink manage the table/,
    )
  })

  test('declared columns: a fraction for a BIGINT column is a dead letter, not a rounded value', async () => {
    const sink = duckdb({ path: ':memory:', table: 'typed', columns: { k: 'VARCHAR', total: 'BIGINT' } })
    const summary = await run(
      pipeline('duckdb-typed')
        .from(
          memorySource('rows', [
            { k: 'a', total: 2 },
            { k: 'b', total: 2.5 },
          ]),
        )
        .to(sink),
      { checkpoint: await tempDir(), trigger: availableNow },
    )
    assert.equal(summary.deadLetteredRows, 1)
    assert.deepEqual(await sink.query('SELECT k, total FROM typed'), [{ k: 'a', total: 2n }])
    await sink.close()
  })
})
