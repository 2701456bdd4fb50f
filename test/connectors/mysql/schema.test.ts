import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { mysql } from '../../../src/connectors/mysql/index.ts'
import { memorySource } from '../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { UsageError } from '../../../src/errors.ts'
import { run } from '../../../src/runtime/run.ts'
import type { SinkSpec } from '../../../src/runtime/sink.ts'
import { json, useMariaDb } from './util.ts'

const db = useMariaDb()

async function write<T>(id: string, rows: readonly T[], sink: SinkSpec<T>) {
  const p = pipeline(id)
    .from(memorySource<T>(id, rows))
    .map((r) => r as T)
    .to(sink)
  return run(p, { checkpoint: await db.checkpoint(), trigger: { kind: 'availableNow' } })
}

function usage(pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof UsageError, `a UsageError, not ${String(error)}`)
    assert.equal(error.domain, 'user')
    assert.match(error.message, pattern)
    return true
  }
}

describe('mysql sink, tables', () => {
  test('an existing table whose columns do not fit fails with every misfit listed', async () => {
    await db.query(
      'CREATE TABLE misfit (id INT NOT NULL PRIMARY KEY, name INT, created DATE, note VARCHAR(10) NOT NULL) ENGINE=InnoDB',
    )
    const rows = [{ id: 1, name: 'alice', created: '2026-03-02T09:00:00.000Z', extra: { a: 1 } }]
    await assert.rejects(
      write('misfit', rows, mysql({ url: db.server.url, table: 'misfit' })),
      (error: unknown) => {
        usage(/table `sluice_test[^`]*`\.`misfit` does not fit the rows/)(error)
        const message = (error as Error).message
        assert.match(message, /`name`: the rows hold text, the column is INT/)
        assert.match(message, /`extra`: the rows have this field, the table has no such column/)
        assert.match(message, /`note`: NOT NULL without a default, and the rows have no such field/)
        assert.doesNotMatch(message, /`id`:|`created`:/) // integers into INT and timestamps into DATE fit
        return true
      },
    )
    const [count] = await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM misfit')
    assert.equal(count?.n, 0)
  })

  test('declared columns are checked against the existing table when the pipeline opens', async () => {
    await db.query('CREATE TABLE declared (id BIGINT PRIMARY KEY, total DECIMAL(10,2)) ENGINE=InnoDB')
    await assert.rejects(
      write(
        'declared',
        [{ id: 1, total: 2.5 }],
        mysql<{ id: number; total: number }>({
          url: db.server.url,
          table: 'declared',
          columns: { id: 'BIGINT', total: 'VARCHAR(20)' },
        }),
      ),
      usage(/`total`: declared VARCHAR\(20\), the column is DECIMAL\(10,2\)/),
    )
  })

  test('a missing table without createTable, upsert without a unique key and a MyISAM table are usage errors', async () => {
    await assert.rejects(
      write('missing', [{ id: 1 }], mysql({ url: db.server.url, table: 'nowhere' })),
      usage(/table `[^`]+`\.`nowhere` does not exist; create it, or pass createTable: true/),
    )
    await db.query('CREATE TABLE nokey (k VARCHAR(10), n INT) ENGINE=InnoDB')
    await assert.rejects(
      write(
        'nokey',
        [{ k: 'a', n: 1 }],
        mysql({ url: db.server.url, table: 'nokey', mode: 'upsert', key: ['k'] }),
      ),
      usage(
        /upsert on \(`k`\) needs a PRIMARY KEY or UNIQUE index on exactly these columns; the table has none/,
      ),
    )
    await db.query('CREATE TABLE myisam (k VARCHAR(10) PRIMARY KEY, n INT) ENGINE=MyISAM')
    await assert.rejects(
      write('myisam', [{ k: 'a', n: 1 }], mysql({ url: db.server.url, table: 'myisam' })),
      usage(/ENGINE=MyISAM, which has no transactions/),
    )
    assert.throws(() => mysql({ table: 't', mode: 'upsert' }), usage(/mode 'upsert' needs key/))
    assert.throws(() => mysql({ table: 'ends with space ' }), usage(/ends with a space/))
    assert.throws(() => mysql({ table: 'x'.repeat(65) }), usage(/longer than 64 characters/))
    assert.throws(() => mysql({ table: 't', url: 'postgres://h/db' }), usage(/must start with mysql:\/\//))
    assert.throws(() => mysql({ table: 't', url: 'mysql://h:3306/' }), usage(/names no database/))
  })

  test('a field that appears later: without createTable the pipeline stops before its batch is written', async () => {
    const rows = [...Array.from({ length: 10 }, (_, i) => ({ id: i })), { id: 10, surprise: 'x' }]
    await db.query('CREATE TABLE later_field (id BIGINT) ENGINE=InnoDB')
    const p = pipeline('later-field')
      .from(memorySource('later-field', rows))
      .map((r) => r as { id: number; surprise?: string })
      .to(mysql({ url: db.server.url, table: 'later_field' }))
    await assert.rejects(
      run(p, { checkpoint: await db.checkpoint(), trigger: { kind: 'availableNow' }, maxBatchRecords: 5 }),
      usage(
        /`surprise`: the rows have this field, the table has no such column[\s\S]*pass createTable: true to add columns/,
      ),
    )
    const [count] = await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM later_field')
    assert.equal(count?.n, 10)
  })

  test('with createTable, fields that appear later (or are null at first) get nullable columns', async () => {
    const rows = [
      ...Array.from({ length: 10 }, (_, i) => ({ id: i, maybe: null as number | null })),
      { id: 10, maybe: 2.5, tags: ['a'], at: '2026-03-02T09:00:00.000Z' },
    ]
    await write(
      'added-columns',
      rows,
      mysql<{ id: number; maybe: number | null; tags?: string[]; at?: string }>({
        url: db.server.url,
        table: 'added_columns',
        createTable: true,
        key: ['id'],
        columns: { maybe: 'DECIMAL(6, 2)' },
      }),
    )
    const columns = await db.query<{ c: string; t: string; n: string }>(
      "SELECT COLUMN_NAME AS c, COLUMN_TYPE AS t, IS_NULLABLE AS n FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'added_columns' ORDER BY ORDINAL_POSITION",
    )
    // Without a schema: the widest type for each kind (a number is DOUBLE, a string LONGTEXT).
    assert.deepEqual(columns, [
      { c: 'id', t: 'double', n: 'NO' },
      { c: 'maybe', t: 'decimal(6,2)', n: 'YES' },
      { c: 'tags', t: 'longtext', n: 'YES' },
      { c: 'at', t: 'longtext', n: 'YES' },
    ])
    const back = await db.query<{ id: number; maybe: string | null }>(
      'SELECT id, maybe FROM added_columns ORDER BY id',
    )
    assert.equal(back.length, 11)
    assert.equal(back[10]?.maybe, '2.50')
  })

  test('declared column types go into DDL only when they are plain SQL types', () => {
    assert.throws(
      () => mysql<{ a: number }>({ table: 't', columns: { a: 'INT); DROP TABLE x; --' } }),
      usage(/is not a plain SQL type/),
    )
    assert.doesNotThrow(() =>
      mysql<{ a: number; b: string; c: number }>({
        table: 't',
        columns: {
          a: 'DECIMAL(12, 2)',
          b: 'VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin',
          c: 'BIGINT UNSIGNED NOT NULL',
        },
      }),
    )
  })

  test('identifiers with backticks and spaces, values with quotes, backslashes, newlines and emoji round-trip', async () => {
    const table = 'we`ird; DROP TABLE x -- tab"le'
    const values = [
      "it's",
      'quo"ted',
      'back\\slash\\',
      'new\nline\r\ttab',
      '😀 emoji 🇩🇪',
      "'); DROP TABLE sluice_offsets; --",
      '`backtick`',
      '\u0000nul',
      '%_ like',
      '',
    ]
    const rows = values.map((v, i) => ({
      'the `id`': i,
      'col with space': v,
      "o'quote": { nested: v, list: [v] },
    }))
    await write(
      'quoting',
      rows,
      mysql({
        url: db.server.url,
        table,
        createTable: true,
        mode: 'upsert',
        key: ['the `id`'],
        deadLetterTable: 'quoting dead`letters',
      }),
    )
    const back = await db.query<Record<string, unknown>>(
      'SELECT * FROM `we``ird; DROP TABLE x -- tab"le` ORDER BY 1',
    )
    assert.deepEqual(
      back.map((r) => [r['the `id`'], r['col with space'], json(r["o'quote"])]),
      rows.map((r) => [r['the `id`'], r['col with space'], r["o'quote"]]),
    )
    const tables = await db.query<{ t: string }>(
      'SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1',
    )
    assert.ok(tables.some((t) => t.t === 'sluice_offsets'))
    assert.ok(tables.some((t) => t.t === 'quoting dead`letters'))
  })

  test('upsert keys compare as JavaScript strings do: case and trailing spaces make distinct keys', async () => {
    const rows = [
      { k: 'a', n: 1 },
      { k: 'A', n: 2 },
      { k: 'a ', n: 3 },
      { k: 'ä', n: 4 },
      { k: 'a', n: 5 },
    ]
    await write(
      'collation',
      rows,
      mysql({ url: db.server.url, table: 'collation', createTable: true, mode: 'upsert', key: ['k'] }),
    )
    const back = await db.query<{ k: string; n: number }>('SELECT k, n FROM collation ORDER BY n')
    assert.deepEqual(back, [
      { k: 'A', n: 2 },
      { k: 'a ', n: 3 },
      { k: 'ä', n: 4 },
      { k: 'a', n: 5 },
    ])
  })
})
