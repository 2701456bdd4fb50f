import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { postgres } from '../../../src/connectors/postgres/index.ts'
import { memorySource } from '../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { UsageError } from '../../../src/errors.ts'
import { run } from '../../../src/runtime/run.ts'
import { tempDir, useDatabase } from './util.ts'

const { db, sql } = useDatabase()

async function runRows<T extends object>(
  id: string,
  rows: readonly T[],
  sink: ReturnType<typeof postgres<T>>,
) {
  const p = pipeline(id)
    .from(
      memorySource(
        'rows',
        rows.map((value) => ({ value })),
      ),
    )
    .map((r) => r as T)
    .to(sink)
  return run(p, { checkpoint: await tempDir(), trigger: { kind: 'availableNow' } })
}

describe('postgres sink: tables and columns', () => {
  test('an existing table whose columns do not fit: a UsageError listing each column', async () => {
    await sql('CREATE TABLE metrics (page text, views text, at timestamptz, flag integer)')
    const rows = [
      { page: '/', views: 3, at: '2026-11-25T10:00:00.000Z', flag: true, extra: 1.5, empty: null },
    ]
    await assert.rejects(
      runRows('pg-mismatch', rows, postgres({ url: db().url, table: 'metrics' })),
      (error: unknown) => {
        assert.ok(error instanceof UsageError)
        assert.equal(error.exitCode, 2)
        assert.match(error.message, /table metrics does not fit the rows/)
        assert.match(error.message, /column "views": table has text, rows need double precision/)
        assert.match(error.message, /column "flag": table has integer, rows need boolean/)
        assert.match(error.message, /column "extra": missing \(rows need double precision\)/)
        assert.doesNotMatch(error.message, /"page"|"at"|"empty"/)
        return true
      },
    )
    // With createTable the missing column is added, but a column of the wrong type is still an error.
    await assert.rejects(
      runRows('pg-mismatch-2', rows, postgres({ url: db().url, table: 'metrics', createTable: true })),
      (error: unknown) =>
        error instanceof UsageError &&
        /"views": table has text, rows need double precision/.test(error.message) &&
        !/extra/.test(error.message),
    )
    assert.deepEqual(await sql('SELECT * FROM metrics'), [])
  })

  test('a missing table without createTable, and upsert without a unique key, are clear errors', async () => {
    await assert.rejects(
      runRows('pg-missing', [{ a: 1 }], postgres({ url: db().url, table: 'nowhere' })),
      /table nowhere does not exist. Create it, or pass createTable: true/,
    )
    await sql('CREATE TABLE nokey (k text, v bigint)')
    await assert.rejects(
      runRows(
        'pg-nokey',
        [{ k: 'a', v: 1 }],
        postgres({ url: db().url, table: 'nokey', mode: 'upsert', key: ['k'] }),
      ),
      /upsert into nokey needs a primary key or unique index on \(k\)/,
    )
    assert.throws(
      () => postgres({ table: 'x', mode: 'upsert' }),
      /mode 'upsert' needs key, the columns that identify a row/,
    )
    assert.throws(
      () => postgres({ table: 'x', columns: { a: 'text); DROP TABLE x; --' } }),
      /not a PostgreSQL type name/,
    )
  })

  test('createTable uses declared column types and adds columns for new fields', async () => {
    type R = { id: number; amount?: number; note?: string | null }
    const sink = postgres<R>({
      url: db().url,
      table: 'ledger',
      createTable: true,
      columns: { id: 'integer', amount: 'numeric(12, 2)' },
    })
    await runRows<R>('pg-declared', [{ id: 1, amount: 2.5, note: null }], sink)
    const p = pipeline('pg-declared-2')
      .from(memorySource<R>('rows', [{ value: { id: 2, amount: 3, note: 'later' } }]))
      .to(sink)
    await run(p, { checkpoint: await tempDir(), trigger: { kind: 'availableNow' } })
    const types = await sql<{ column_name: string; type: string }>(
      "SELECT column_name, format_type(atttypid, atttypmod) AS type FROM information_schema.columns c JOIN pg_attribute a ON a.attrelid = 'ledger'::regclass AND a.attname = c.column_name WHERE c.table_name = 'ledger' ORDER BY ordinal_position",
    )
    assert.deepEqual(
      types.map((t) => `${t.column_name} ${t.type}`),
      ['id integer', 'amount numeric(12,2)', 'note text'],
    )
    assert.deepEqual(await sql('SELECT id, amount::text, note FROM ledger ORDER BY id'), [
      { id: 1, amount: '2.50', note: null },
      { id: 2, amount: '3.00', note: 'later' },
    ])
  })

  test('identifiers with quotes and spaces, and values with quotes, backslashes, newlines and unicode round-trip', async () => {
    const nasty = [
      "it's",
      'say "hi"',
      'back\\slash \\N \\\\ end\\',
      'tab\there\nnew line\r\ncrlf',
      '\\N',
      '',
      '\'); DROP TABLE "we""ird"; --',
      'unicode: Grüße, 東京, 🚀, \u200b, \u{10FFFF}',
      '\\x00',
      ',;|"\'`$${}',
    ]
    const rows = nasty.map((text, i) => ({
      'Id "quoted"': i,
      'sp ace; DROP': text,
      'Ünï.code': { text, list: [text, null, i] },
      flag: i % 2 === 0,
    }))
    for (const mode of ['append', 'upsert'] as const) {
      const table = `we"ird schema.Table; DROP "it" ${mode}`
      const sink = postgres<(typeof rows)[number]>({
        url: db().url,
        table,
        mode,
        createTable: true,
        ...(mode === 'upsert' ? { key: ['Id "quoted"'] as const } : {}),
        deadLetterTable: 'dead "letters"',
      })
      await runRows(`pg-weird-${mode}`, rows, sink)
      const back = await sql<Record<string, unknown>>(
        `SELECT * FROM "we""ird schema"."Table; DROP ""it"" ${mode}" ORDER BY "Id ""quoted"""`,
      )
      assert.deepEqual(
        back.map((r) => ({ ...r, 'Id "quoted"': Number(r['Id "quoted"']) })),
        rows,
      )
    }
    const [offsets] = await sql<{ n: string }>('SELECT count(*) AS n FROM "we""ird schema".sluice_offsets')
    assert.equal(offsets?.n, '2')
    assert.deepEqual(await sql('SELECT * FROM "we""ird schema"."dead ""letters"""'), [])
  })

  test('a value with a NUL character is a bad row, not a broken batch', async () => {
    await sql('CREATE TABLE nul_rows (id bigint, s text)')
    await runRows(
      'pg-nul',
      [
        { id: 1, s: 'ok' },
        { id: 2, s: 'nul\u0000inside' },
        { id: 3, s: 'ok too' },
      ],
      postgres({ url: db().url, table: 'nul_rows' }),
    )
    assert.deepEqual(await sql('SELECT id::int, s FROM nul_rows ORDER BY id'), [
      { id: 1, s: 'ok' },
      { id: 3, s: 'ok too' },
    ])
    const [letter] = await sql<{ reason: string; sqlstate: string; raw_text: string }>(
      "SELECT reason, sqlstate, raw_text FROM sluice_dead_letters WHERE pipeline_id = 'pg-nul'",
    )
    assert.equal(letter?.sqlstate, '22021') // invalid byte sequence for UTF8: 0x00
    assert.match(letter?.raw_text ?? '', /nul\\u0000inside/)
  })
})
