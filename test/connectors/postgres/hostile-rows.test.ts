import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { z } from 'zod'
import { PostgresError, postgres } from '../../../src/connectors/postgres/index.ts'
import { memorySource } from '../../../src/connectors/testing/memory-source.ts'
import { fromJsonSchema } from '../../../src/dsl/parse.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
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
import { tempDir, useDatabase } from './util.ts'

const { db, sql } = useDatabase()

const availableNow = { kind: 'availableNow' } as const

async function deadLetters(pipelineId: string) {
  return sql<{ operator: string; reason: string; raw_text: string; sqlstate: string | null }>(
    'SELECT operator, reason, raw_text, sqlstate FROM sluice_dead_letters WHERE pipeline_id = $1 ORDER BY id',
    [pipelineId],
  )
}

async function columnTypes(table: string): Promise<Record<string, string>> {
  const rows = await sql<{ c: string; t: string }>(
    `SELECT column_name AS c, data_type AS t FROM information_schema.columns
      WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`,
    [table],
  )
  return Object.fromEntries(rows.map((r) => [r.c, r.t]))
}

describe('postgres sink: rows the table cannot take are dead letters, the pipeline goes on', () => {
  test('not an object, a field name no column can have, past 1600 columns, too deep, circular', async () => {
    const hostile: Hostile[] = [
      ...commonHostile,
      {
        kind: '64-byte name (PostgreSQL cuts names to 63 bytes)',
        row: { id: 103, ['é'.repeat(32)]: 1 },
        reason: /^field "é{32}": PostgreSQL column names have at most 63 bytes, this one 64/,
      },
      {
        kind: '1700 fields',
        row: wide(104, 1700),
        reason:
          /^the row's new field\(s\) "f0", "f1", "f2", "f3", "f4" and 1695 more would take table hostile past 1600 columns, PostgreSQL's limit/,
      },
      {
        kind: 'nested 100,000 levels',
        row: { id: 105, name: 'deep', meta: nested(100_000) },
        reason:
          /^field "meta": the value is nested too deeply to write as JSON \(Maximum call stack size exceeded\)$/,
      },
      {
        kind: 'circular value',
        row: circular(106),
        reason: /^field "meta": the value is circular, it cannot be written as JSON$/,
      },
    ]
    // A jsonb column for meta (the deep and circular values) from a good row.
    const good = [...goodRows(12), { id: 50, name: 'meta', price: 1, meta: { ok: true } }]
    const { reported } = await runHostile(
      'pg-hostile',
      postgres({ url: db().url, table: 'hostile', createTable: true }),
      hostile,
      good,
      await tempDir(),
    )
    assertReasons(
      hostile,
      reported.map((d) => d.reason),
    )
    const letters = await deadLetters('pg-hostile')
    assertReasons(
      hostile,
      letters.map((d) => d.reason),
    )
    assert.ok(letters.every((d) => d.operator === 'sink:hostile' && d.sqlstate === null))
    // The row as JSON, also when JSON.stringify cannot take it (cut where too deep or circular).
    assert.equal(letters[0]?.raw_text, 'null')
    assert.match(letters.at(-1)?.raw_text ?? '', /^\{"id":106,"name":"loop","meta":\{"up":\{"up":/)
    const [count] = await sql<{ n: number }>('SELECT count(*)::int AS n FROM hostile')
    assert.equal(count?.n, good.length)
    const types = await columnTypes('hostile')
    assert.equal(Object.keys(types).length, 4, 'no column from a refused row')
  })

  test('the 1600-column limit counts the columns the table has, dropped ones too', async () => {
    const defs = Array.from({ length: 1590 }, (_, i) => `c${i} int`).join(', ')
    await sql(`CREATE TABLE near_limit (id double precision, ${defs})`)
    await sql('ALTER TABLE near_limit DROP COLUMN c0, DROP COLUMN c1')
    const rows = [
      { id: 1, extra0: 1, extra1: 2, extra2: 3, extra3: 4, extra4: 5 }, // 1596 … 1596: fits (1591 + 5)
      { id: 2, more0: 1, more1: 2, more2: 3, more3: 4, more4: 5 }, // 1601 … 1605: refused
      { id: 3, extra0: 7 },
    ]
    const summary = await run(
      pipeline('pg-near-limit')
        .from(memorySource('rows', rows))
        .to(postgres({ url: db().url, table: 'near_limit', createTable: true })),
      { checkpoint: await tempDir(), trigger: availableNow },
    )
    assert.equal(summary.deadLetteredRows, 1)
    const [letter] = await deadLetters('pg-near-limit')
    assert.match(
      letter?.reason ?? '',
      /^the row's new field\(s\) "more0", "more1", "more2", "more3", "more4" would take table near_limit past 1600 columns, PostgreSQL's limit \(it has 1596, dropped columns included\)$/,
    )
    assert.deepEqual(await sql('SELECT id, extra0 FROM near_limit ORDER BY id'), [
      { id: 1, extra0: 1 },
      { id: 3, extra0: 7 },
    ])
  })

  test('a row too big for a page is a bad row, not a stopped pipeline', async () => {
    // 1100 double precision values take 8800 bytes in the row: more than a page holds (they cannot be TOASTed).
    const rows = [{ id: 1 }, wide(2, 1100), { id: 3 }]
    const summary = await run(
      pipeline('pg-too-big')
        .from(memorySource('rows', rows))
        .to(postgres({ url: db().url, table: 'too_big', createTable: true })),
      { checkpoint: await tempDir(), trigger: availableNow },
    )
    assert.equal(summary.deadLetteredRows, 1)
    const [letter] = await deadLetters('pg-too-big')
    assert.match(letter?.reason ?? '', /^row is too big: size \d+, maximum size 8160$/)
    assert.equal(letter?.sqlstate, '54000')
    assert.deepEqual(await sql('SELECT id FROM too_big ORDER BY id'), [{ id: 1 }, { id: 3 }])
  })

  test("onError 'fail' stops at the first row the sink refuses, naming it", async () => {
    await assert.rejects(
      run(
        pipeline('pg-hostile-fail')
          .from(memorySource('rows', [{ id: 1 }, { id: 2, 'x\u0000': 1 }]))
          .to(postgres({ url: db().url, table: 'hostile_fail', createTable: true, onError: 'fail' })),
        { checkpoint: await tempDir(), trigger: availableNow },
      ),
      (error: unknown) => {
        assert.ok(error instanceof PostgresError)
        assert.match(
          error.message,
          /rejected the row at index 1 of batch 0: field "x\\u0000": a column name cannot contain a NUL character/,
        )
        return true
      },
    )
  })
})

describe('postgres sink: column types are declared, never guessed narrower from values', () => {
  test('from the parse step: Zod and JSON Schema integer, number, date-time, string, boolean, object', async () => {
    const Row = z.object({
      id: z.int(),
      amount: z.number(),
      at: z.iso.datetime(),
      note: z.string().nullable(),
      ok: z.boolean(),
      meta: z.object({ tags: z.array(z.string()) }),
    })
    const values = [
      { id: 1, amount: 2, at: '2026-03-02T09:00:00.000Z', note: null, ok: true, meta: { tags: [] } },
      { id: 2, amount: 3, at: '2026-03-02T09:00:01.000Z', note: 'x', ok: false, meta: { tags: ['a'] } },
    ]
    const expected = {
      id: 'bigint',
      amount: 'double precision',
      at: 'timestamp with time zone',
      note: 'text',
      ok: 'boolean',
      meta: 'jsonb',
    }
    await run(
      pipeline('pg-zod-types')
        .from(memorySource('rows', values))
        .parse(Row)
        .to(postgres({ url: db().url, table: 'zod_types', createTable: true })),
      { checkpoint: await tempDir(), trigger: availableNow },
    )
    // amount is whole in every row: still double precision, as declared; note is null in the first row.
    assert.deepEqual(await columnTypes('zod_types'), expected)
    const schema = {
      type: 'object',
      properties: {
        id: { type: 'integer' },
        amount: { type: 'number' },
        at: { type: 'string', format: 'date-time' },
        note: { type: ['string', 'null'] },
        ok: { type: 'boolean' },
        meta: { type: 'object' },
      },
    }
    await run(
      pipeline('pg-json-schema-types')
        .from(memorySource('rows', values))
        .parse(fromJsonSchema(schema))
        .to(postgres({ url: db().url, table: 'json_schema_types', createTable: true })),
      { checkpoint: await tempDir(), trigger: availableNow },
    )
    assert.deepEqual(await columnTypes('json_schema_types'), expected)
  })

  test('after a map that reshapes the rows: the widest type for each kind of value', async () => {
    const rows = [
      { n: 1, at: '2026-03-02T09:00:00.000Z', flag: true, when: new Date(0), big: 10n },
      { n: 2.5, at: 'soon', flag: false, when: new Date(1), big: 11n },
    ]
    await run(
      pipeline('pg-widest')
        .from(memorySource('rows', [{ i: 0 }, { i: 1 }]))
        .parse(z.object({ i: z.int() }))
        .map((r) => rows[r.i]!)
        .to(postgres({ url: db().url, table: 'widest', createTable: true })),
      { checkpoint: await tempDir(), trigger: availableNow, maxBatchRecords: 1 },
    )
    assert.deepEqual(await columnTypes('widest'), {
      n: 'double precision',
      at: 'text',
      flag: 'boolean',
      when: 'timestamp with time zone',
      big: 'numeric',
    })
    assert.deepEqual(await sql('SELECT n, at FROM widest ORDER BY n'), [
      { n: 1, at: '2026-03-02T09:00:00.000Z' },
      { n: 2.5, at: 'soon' },
    ])
  })
})

describe('postgres sink: a bigint column an older version created from whole numbers', () => {
  const oldTable = async (name: string) => {
    await sql(`CREATE TABLE ${name} (user_id text PRIMARY KEY, events bigint, revenue bigint)`)
    await sql(`INSERT INTO ${name} VALUES ('u-0', 1, 0), ('u-1', 2, 20)`)
  }
  const sessions = [
    { user_id: 'u-2', events: 3, revenue: 0 },
    { user_id: 'u-3', events: 4, revenue: 19.99 },
  ]

  test('with createTable, a fraction widens it to double precision: nothing stored changes, nothing is lost', async () => {
    await oldTable('old_sessions')
    const summary = await run(
      pipeline('pg-widen')
        .from(memorySource('rows', sessions))
        .to(
          postgres({
            url: db().url,
            table: 'old_sessions',
            createTable: true,
            mode: 'upsert',
            key: ['user_id'],
          }),
        ),
      { checkpoint: await tempDir(), trigger: availableNow },
    )
    assert.equal(summary.deadLetteredRows, 0)
    assert.equal((await columnTypes('old_sessions')).revenue, 'double precision')
    assert.equal((await columnTypes('old_sessions')).events, 'bigint', 'only the column that needs it')
    assert.deepEqual(await sql('SELECT user_id, revenue FROM old_sessions ORDER BY user_id'), [
      { user_id: 'u-0', revenue: 0 },
      { user_id: 'u-1', revenue: 20 },
      { user_id: 'u-2', revenue: 0 },
      { user_id: 'u-3', revenue: 19.99 },
    ])
  })

  test('a schema declaring a number widens it when the pipeline opens, before any fraction', async () => {
    await oldTable('declared_sessions')
    await run(
      pipeline('pg-widen-declared')
        .from(memorySource('rows', [{ user_id: 'u-2', events: 3, revenue: 5 }]))
        .parse(z.object({ user_id: z.string(), events: z.int(), revenue: z.number() }))
        .to(
          postgres({
            url: db().url,
            table: 'declared_sessions',
            createTable: true,
            mode: 'upsert',
            key: ['user_id'],
          }),
        ),
      { checkpoint: await tempDir(), trigger: availableNow },
    )
    assert.deepEqual(await columnTypes('declared_sessions'), {
      user_id: 'text',
      events: 'bigint',
      revenue: 'double precision',
    })
  })

  test('a value beyond 2^53 stored: not widened (it would change), the row is a dead letter saying why', async () => {
    await oldTable('big_sessions')
    await sql(`INSERT INTO big_sessions VALUES ('u-big', 1, 9007199254740993)`)
    const summary = await run(
      pipeline('pg-widen-unsafe')
        .from(memorySource('rows', sessions))
        .to(
          postgres({
            url: db().url,
            table: 'big_sessions',
            createTable: true,
            mode: 'upsert',
            key: ['user_id'],
          }),
        ),
      { checkpoint: await tempDir(), trigger: availableNow },
    )
    assert.equal(summary.deadLetteredRows, 1)
    assert.equal((await columnTypes('big_sessions')).revenue, 'bigint')
    const [letter] = await deadLetters('pg-widen-unsafe')
    assert.equal(
      letter?.reason,
      'column "revenue" of big_sessions is bigint, and 19.99 is not a whole number; widen it: ALTER TABLE "big_sessions" ' +
        'ALTER COLUMN "revenue" TYPE double precision (not done by the sink: the column holds values beyond 2^53, ' +
        'which double precision would round)',
    )
    assert.deepEqual(await sql("SELECT revenue FROM big_sessions WHERE user_id = 'u-big'"), [
      { revenue: '9007199254740993' },
    ])
  })

  test('without createTable the sink changes no table: the row is a dead letter naming the column and the fix', async () => {
    await oldTable('fixed_sessions')
    const summary = await run(
      pipeline('pg-no-widen')
        .from(memorySource('rows', sessions))
        .to(postgres({ url: db().url, table: 'fixed_sessions', mode: 'upsert', key: ['user_id'] })),
      { checkpoint: await tempDir(), trigger: availableNow },
    )
    assert.equal(summary.deadLetteredRows, 1)
    assert.equal(summary.outputRows, 1)
    const [letter] = await deadLetters('pg-no-widen')
    assert.equal(
      letter?.reason,
      'column "revenue" of fixed_sessions is bigint, and 19.99 is not a whole number; widen it: ALTER TABLE ' +
        '"fixed_sessions" ALTER COLUMN "revenue" TYPE double precision, or pass createTable: true to let the sink ' +
        'widen it when no stored value changes',
    )
    assert.equal((await columnTypes('fixed_sessions')).revenue, 'bigint')
  })
})
