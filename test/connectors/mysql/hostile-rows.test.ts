import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { z } from 'zod'
import { mysql } from '../../../src/connectors/mysql/index.ts'
import { memorySource } from '../../../src/connectors/testing/memory-source.ts'
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
import { useMariaDb } from './util.ts'

const db = useMariaDb()
const availableNow = { kind: 'availableNow' } as const

async function deadLetters(pipelineId: string) {
  return db.query<{ operator: string; reason: string; raw: Buffer | string }>(
    'SELECT operator, reason, raw FROM sluice_dead_letters WHERE pipeline_id = ? ORDER BY id',
    [pipelineId],
  )
}

async function columnTypes(table: string): Promise<Record<string, string>> {
  const rows = await db.query<{ c: string; t: string }>(
    'SELECT COLUMN_NAME AS c, COLUMN_TYPE AS t FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION',
    [table],
  )
  return Object.fromEntries(rows.map((r) => [r.c, r.t]))
}

describe('mysql sink: rows the table cannot take are dead letters, the pipeline goes on', () => {
  test('not an object, names MariaDB refuses, past 1017 columns, too deep, circular', async () => {
    const hostile: Hostile[] = [
      ...commonHostile,
      {
        kind: '65-character name',
        row: { id: 103, ['n'.repeat(65)]: 1 },
        reason: /^field "n{65}": MariaDB column names have at most 64 characters, this one 65$/,
      },
      {
        kind: 'trailing space',
        row: { id: 104, 'name ': 1 },
        reason: /^field "name ": MariaDB refuses column names that end with a space$/,
      },
      {
        kind: 'emoji in a name',
        row: { id: 105, 'a😀': 1 },
        reason:
          /^field "a😀": MariaDB column names cannot hold characters outside the Basic Multilingual Plane/,
      },
      {
        kind: 'a field that differs from a column only in case',
        row: { id: 106, NAME: 'x' },
        // "field": the table is created from this very batch, so `name` is not a column yet.
        reason: /^field "NAME" and field "name" differ only in case, and MariaDB column names ignore case$/,
      },
      {
        kind: 'two fields that differ only in case',
        row: { id: 107, Extra: 1, EXTRA: 2 },
        reason: /^field "EXTRA" and field "Extra" differ only in case/,
      },
      {
        kind: '1100 fields',
        row: wide(108, 1100),
        reason:
          /^the row's new field\(s\) "f0", "f1", "f2", "f3", "f4" and 1095 more would take `[^`]+`\.`hostile` past 1017 columns, InnoDB's limit/,
      },
      {
        kind: 'nested 100,000 levels',
        row: { id: 109, name: 'deep', meta: nested(100_000) },
        reason: /^field "meta": the value is nested too deeply to write as JSON/,
      },
      {
        kind: 'circular value',
        row: circular(110),
        reason: /^field "meta": the value is circular, it cannot be written as JSON$/,
      },
    ]
    const good = [{ id: 50, name: 'meta', price: 1, meta: { ok: true } }, ...goodRows(14)]
    const { reported } = await runHostile(
      'mysql-hostile',
      mysql({ url: db.server.url, table: 'hostile', createTable: true }),
      hostile,
      good,
      await db.checkpoint(),
    )
    assertReasons(
      hostile,
      reported.map((d) => d.reason),
    )
    const letters = await deadLetters('mysql-hostile')
    assertReasons(
      hostile,
      letters.map((d) => d.reason),
    )
    assert.equal(String(letters[0]?.raw), 'null')
    assert.match(String(letters.at(-1)?.raw), /^\{"id":110,"name":"loop","meta":\{"up":\{"up":/)
    const [count] = await db.query<{ n: number }>('SELECT count(*) AS n FROM hostile')
    assert.equal(Number(count?.n), good.length)
    assert.deepEqual(Object.keys(await columnTypes('hostile')), ['id', 'name', 'price', 'meta'])
  })

  test('a row the server cannot give columns (a row too large for InnoDB) is refused alone, with its message', async () => {
    // 1016 columns are fewer than InnoDB's 1017, but 1014 DOUBLEs of 8 bytes pass its 8126-byte row limit.
    const rows = [{ id: 1, a: 'x' }, wide(2, 1014), { id: 3, a: 'y', b: 1.5 }]
    const summary = await run(
      pipeline('mysql-row-size')
        .from(memorySource('rows', rows))
        .to(mysql({ url: db.server.url, table: 'row_size', createTable: true })),
      { checkpoint: await db.checkpoint(), trigger: availableNow },
    )
    assert.equal(summary.deadLetteredRows, 1)
    const [letter] = await deadLetters('mysql-row-size')
    assert.match(
      letter?.reason ?? '',
      /^`[^`]+`\.`row_size` cannot take the row's new field\(s\) "f0", "f1", "f2", "f3", "f4" and 1009 more: Row size too large/,
    )
    assert.deepEqual(await db.query('SELECT id, a, b FROM row_size ORDER BY id'), [
      { id: 1, a: 'x', b: null },
      { id: 3, a: 'y', b: 1.5 },
    ])
  })
})

describe('mysql sink: column types are declared, never guessed narrower from values', () => {
  test('from the parse step; the widest type for the kind without one', async () => {
    const Row = z.object({
      id: z.int(),
      amount: z.number(),
      at: z.iso.datetime(),
      note: z.string(),
      ok: z.boolean(),
    })
    const values = [{ id: 1, amount: 2, at: '2026-03-02T09:00:00.000Z', note: 'x', ok: true }]
    await run(
      pipeline('mysql-declared')
        .from(memorySource('rows', values))
        .parse(Row)
        .to(mysql({ url: db.server.url, table: 'declared', createTable: true })),
      { checkpoint: await db.checkpoint(), trigger: availableNow },
    )
    assert.deepEqual(await columnTypes('declared'), {
      id: 'bigint(20)',
      amount: 'double',
      at: 'datetime(3)',
      note: 'longtext',
      ok: 'tinyint(1)',
    })
    await run(
      pipeline('mysql-widest')
        .from(memorySource('rows', values))
        .parse(Row)
        .map((r) => ({ ...r, n: r.id }))
        .to(mysql({ url: db.server.url, table: 'widest', createTable: true })),
      { checkpoint: await db.checkpoint(), trigger: availableNow },
    )
    assert.deepEqual(await columnTypes('widest'), {
      id: 'double',
      amount: 'double',
      at: 'longtext',
      note: 'longtext',
      ok: 'tinyint(1)',
      n: 'double',
    })
  })

  test('an integer column an older version created: widened by a fraction with createTable, kept when a value is beyond 2^53', async () => {
    await db.query('CREATE TABLE old_totals (k VARCHAR(20) PRIMARY KEY, total BIGINT NULL) ENGINE=InnoDB')
    await db.query("INSERT INTO old_totals VALUES ('a', 20)")
    const rows = [
      { k: 'b', total: 0 },
      { k: 'c', total: 19.99 },
    ]
    const summary = await run(
      pipeline('mysql-widen')
        .from(memorySource('rows', rows))
        .to(
          mysql({ url: db.server.url, table: 'old_totals', createTable: true, mode: 'upsert', key: ['k'] }),
        ),
      { checkpoint: await db.checkpoint(), trigger: availableNow },
    )
    assert.equal(summary.deadLetteredRows, 0)
    assert.equal((await columnTypes('old_totals')).total, 'double')
    assert.deepEqual(await db.query('SELECT k, total FROM old_totals ORDER BY k'), [
      { k: 'a', total: 20 },
      { k: 'b', total: 0 },
      { k: 'c', total: 19.99 },
    ])

    await db.query('CREATE TABLE big_totals (k VARCHAR(20) PRIMARY KEY, total BIGINT NULL) ENGINE=InnoDB')
    await db.query("INSERT INTO big_totals VALUES ('a', 9007199254740993)")
    const unsafe = await run(
      pipeline('mysql-widen-unsafe')
        .from(memorySource('rows', rows))
        .to(
          mysql({ url: db.server.url, table: 'big_totals', createTable: true, mode: 'upsert', key: ['k'] }),
        ),
      { checkpoint: await db.checkpoint(), trigger: availableNow },
    )
    assert.equal(unsafe.deadLetteredRows, 1)
    assert.equal((await columnTypes('big_totals')).total, 'bigint(20)')
    const [letter] = await deadLetters('mysql-widen-unsafe')
    assert.match(
      letter?.reason ?? '',
      /^column `total` of `[^`]+`\.`big_totals` is BIGINT\(20\), and 19\.99 is not a whole number; widen it: ALTER TABLE `big_totals` MODIFY `total` DOUBLE \(not done by the sink: the column holds values beyond 2\^53, which DOUBLE would round\)$/,
    )
  })
})
