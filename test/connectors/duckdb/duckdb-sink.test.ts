import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { DuckDBInstance } from '@duckdb/node-api'
import { z } from 'zod'
import { aggregates, count, sum } from '../../../src/aggregate/index.ts'
import { openDatabaseCount } from '../../../src/connectors/duckdb/database.ts'
import { duckdb } from '../../../src/connectors/duckdb/index.ts'
import { memorySource } from '../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { SluiceError, UsageError } from '../../../src/errors.ts'
import { run } from '../../../src/runtime/run.ts'
import type { OutputBatch } from '../../../src/runtime/sink.ts'
import type { SourceReader } from '../../../src/runtime/source.ts'
import { tumbling } from '../../../src/window/index.ts'
import { withoutPosition } from '../sql/without-position.ts'
import { CRASH_ROWS } from './crash-child.ts'

const dirs: string[] = []
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-duckdb-'))
  dirs.push(dir)
  return dir
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

const availableNow = { kind: 'availableNow' } as const
const T0 = Date.UTC(2024, 5, 1, 12)

interface Click {
  readonly id: number
  readonly user: string
  readonly page: string
  readonly at: string
  readonly price: number | null
  readonly tags: readonly string[]
}

const clicks: Click[] = Array.from({ length: 1000 }, (_, i) => ({
  id: i,
  user: `u-${String(i % 97).padStart(4, '0')}`,
  page: `/p/${i % 13}`,
  at: new Date(T0 + i * 1500).toISOString(),
  price: i % 4 === 0 ? null : (i % 50) + 0.99,
  tags: i % 2 ? ['a', `t${i % 5}`] : [],
}))

/** The table's rows as plain JSON-like values, in id order. */
async function readClicks(query: (sql: string) => Promise<Record<string, unknown>[]>, table = 'clicks') {
  const rows = await query(
    // Without a schema an ISO string stays text (VARCHAR): it is read back as written.
    `SELECT id, "user", page, "at", price, tags FROM ${table} ORDER BY id`,
  )
  return rows.map((r) => ({
    id: Number(r.id),
    user: r.user,
    page: r.page,
    at: r.at,
    price: r.price,
    tags: JSON.parse(String(r.tags)),
  }))
}

describe('duckdb sink', () => {
  test('the Appender takes part in an explicit transaction: appended rows vanish on rollback', async () => {
    const instance = await DuckDBInstance.create(':memory:')
    const connection = await instance.connect()
    try {
      await connection.run('CREATE TABLE t (a BIGINT, b VARCHAR)')
      await connection.run('BEGIN TRANSACTION')
      const appender = await connection.createAppender('t')
      for (let i = 0; i < 5000; i++) {
        appender.appendBigInt(BigInt(i))
        appender.appendVarchar(`v${i}`)
        appender.endRow()
      }
      appender.closeSync()
      const inside = await connection.runAndReadAll('SELECT count(*) AS n FROM t')
      assert.equal(inside.getRowObjectsJS()[0]?.n, 5000n, 'visible inside the transaction')
      const other = await instance.connect()
      const outside = await other.runAndReadAll('SELECT count(*) AS n FROM t')
      assert.equal(outside.getRowObjectsJS()[0]?.n, 0n, 'invisible to another connection before commit')
      other.closeSync()
      await connection.run('ROLLBACK')
      const afterRollback = await connection.runAndReadAll('SELECT count(*) AS n FROM t')
      assert.equal(afterRollback.getRowObjectsJS()[0]?.n, 0n, 'gone after rollback')
    } finally {
      connection.closeSync()
      instance.closeSync()
    }
  })

  test('append, exactly once end to end: the table equals the input, with offsets in sluice_offsets', async () => {
    const dir = await tempDir()
    const sink = duckdb<Click>({ path: join(dir, 'w.duckdb'), table: 'clicks' })
    const summary = await run(pipeline('clicks-append').from(memorySource('clicks', clicks)).to(sink), {
      checkpoint: join(dir, 'checkpoint'),
      trigger: availableNow,
      maxBatchRecords: 130,
    })
    assert.equal(summary.batches, 8)
    assert.deepEqual(await readClicks(sink.query), clicks)
    const columns = await sink.query(
      `SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'clicks' ORDER BY column_index`,
    )
    assert.deepEqual(
      columns.map((c) => `${c.column_name} ${c.data_type}`),
      // No schema: the widest type for each kind (every number DOUBLE, every string VARCHAR).
      ['id DOUBLE', 'user VARCHAR', 'page VARCHAR', 'at VARCHAR', 'price DOUBLE', 'tags JSON'],
    )
    const offsets = await sink.query('SELECT pipeline_id, batch_id, positions FROM sluice_offsets')
    assert.deepEqual(offsets, [{ pipeline_id: 'clicks-append', batch_id: 7n, positions: '{"memory":1000}' }])
    // A second run finds nothing new and writes nothing.
    await run(pipeline('clicks-append').from(memorySource('clicks', clicks)).to(sink), {
      checkpoint: join(dir, 'checkpoint'),
      trigger: availableNow,
    })
    assert.equal((await sink.query('SELECT count(*) AS n FROM clicks'))[0]?.n, 1000n)
    assert.equal(openDatabaseCount(), 0, 'the database is closed when the last user lets go')
  })

  test('upsert of a windowed aggregate in update mode equals the same aggregate computed by DuckDB SQL', async () => {
    const dir = await tempDir()
    interface Sale {
      readonly page: string
      readonly event_time: string
      readonly amount: number
    }
    // Whole amounts first (the revenue column starts as BIGINT), fractions later (it is widened to DOUBLE).
    const sales: Sale[] = Array.from({ length: 3000 }, (_, i) => ({
      page: `/p/${(i * 7) % 11}`,
      event_time: new Date(T0 + i * 400 + ((i * 13) % 5) * 300).toISOString(),
      amount: i < 400 ? i % 9 : ((i * 31) % 400) / 8,
    }))
    const input = join(dir, 'sales.jsonl')
    await writeFile(input, sales.map((s) => JSON.stringify(s)).join('\n'))
    const sink = duckdb({
      path: join(dir, 'w.duckdb'),
      table: 'page_revenue',
      mode: 'upsert',
      key: ['key', 'window_start'],
    })
    const p = pipeline('revenue')
      .from(memorySource('sales', sales))
      .withWatermark('event_time', '30s')
      .keyBy((s) => s.page)
      .window(tumbling('1m'))
      .aggregate(aggregates({ views: count<Sale>(), revenue: sum((s: Sale) => s.amount) }), {
        outputMode: 'update',
      })
      .to(sink)
    let updates = 0
    const summary = await run(p, {
      checkpoint: join(dir, 'checkpoint'),
      trigger: availableNow,
      maxBatchRecords: 97,
      onProgress: (progress) => {
        updates += progress.outputRows
      },
    })
    assert.equal(summary.lateRows, 0)
    assert.equal(summary.deadLetteredRows, 0)
    const stored = await sink.query(
      `SELECT key, strftime(window_start, '%Y-%m-%dT%H:%M:%S.%gZ') AS ws, window_end - window_start AS len, views, revenue
         FROM page_revenue ORDER BY key, window_start`,
    )
    assert.ok(updates > stored.length, `windows were updated across batches (${updates} updates)`)
    const expected = await sink.query(
      `SELECT page AS key, strftime(time_bucket(INTERVAL 1 minute, event_time), '%Y-%m-%dT%H:%M:%S.%gZ') AS ws,
              count(*) AS views, sum(amount) AS revenue
         FROM read_json('${input.replaceAll("'", "''")}',
                        columns = {page: 'VARCHAR', event_time: 'TIMESTAMPTZ', amount: 'DOUBLE'})
        GROUP BY ALL ORDER BY key, ws`,
    )
    assert.equal(stored.length, expected.length)
    assert.ok(stored.length > 200)
    for (let i = 0; i < stored.length; i++) {
      const s = stored[i]!
      const e = expected[i]!
      assert.equal(s.key, e.key)
      assert.equal(s.ws, e.ws)
      assert.equal(s.views, e.views, `views of ${e.key} ${e.ws}`)
      assert.ok(Math.abs(Number(s.revenue) - Number(e.revenue)) < 1e-6, `revenue of ${e.key} ${e.ws}`)
    }
    const types = await sink.query(
      `SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'page_revenue' ORDER BY column_name`,
    )
    assert.deepEqual(
      types.map((c) => `${c.column_name} ${c.data_type}`),
      [
        'key VARCHAR',
        'revenue DOUBLE',
        'views BIGINT',
        'window_end TIMESTAMP WITH TIME ZONE',
        'window_start TIMESTAMP WITH TIME ZONE',
      ],
    )
  })

  test('a crash after the DuckDB commit and before the checkpoint commit: the batch is marked, not replayed', async () => {
    const dir = await tempDir()
    const inner = duckdb<Click>({ path: join(dir, 'w.duckdb'), table: 'clicks' })
    let crash = true
    const crashing = {
      ...inner,
      create() {
        const writer = inner.create()
        return {
          ...writer,
          description: writer.description,
          open: writer.open.bind(writer),
          write: writer.write.bind(writer),
          abort: writer.abort!.bind(writer),
          hasCommitted: writer.hasCommitted!.bind(writer),
          close: writer.close.bind(writer),
          async commit(
            batch: Parameters<typeof writer.commit>[0],
            context: Parameters<typeof writer.commit>[1],
          ) {
            await writer.commit(batch, context)
            if (crash && batch.batchId === 3) {
              crash = false
              throw new Error('crash between the sink commit and the checkpoint commit')
            }
          },
        }
      },
    }
    const p = pipeline('clicks-crash').from(memorySource('clicks', clicks)).to(crashing)
    const options = { checkpoint: join(dir, 'checkpoint'), trigger: availableNow, maxBatchRecords: 100 }
    await assert.rejects(run(p, options), /crash between/)
    assert.equal(
      (await inner.query('SELECT count(*) AS n FROM clicks'))[0]?.n,
      400n,
      'batches 0-3 are in DuckDB',
    )
    const batches: number[] = []
    const replayed: boolean[] = []
    await run(p, {
      ...options,
      onProgress: (progress) => {
        batches.push(progress.batchId)
        replayed.push(progress.replayed)
      },
    })
    assert.deepEqual(batches, [4, 5, 6, 7, 8, 9], 'batch 3 was marked committed, not run again')
    assert.ok(!replayed.includes(true))
    assert.deepEqual(await readClicks(inner.query), clicks)
  })

  test('SIGKILL right after the offsets row changes, and with the transaction open: no loss, no duplicates', async () => {
    const dir = await tempDir()
    const child = join(import.meta.dirname, 'crash-child.ts')
    const runChild = (batch: number, point: string) =>
      spawnSync(process.execPath, [child, dir, String(batch), point], { encoding: 'utf8', timeout: 60_000 })
    const sink = duckdb({ path: join(dir, 'crash.duckdb'), table: 'payments' })
    const state = async () => {
      const [rows] = await sink.query('SELECT count(*) AS n, count(DISTINCT id) AS d FROM payments')
      const [offsets] = await sink.query('SELECT batch_id FROM sluice_offsets')
      return { rows: Number(rows?.n), distinct: Number(rows?.d), batch: Number(offsets?.batch_id) }
    }
    // Killed right after DuckDB committed batch 2 (rows and offsets row), before the checkpoint marked it.
    const first = runChild(2, 'after-commit')
    assert.equal(first.signal, 'SIGKILL', first.stderr)
    assert.deepEqual(await state(), { rows: 450, distinct: 450, batch: 2 })
    // Restarted: batch 2 is marked, not written again; killed with batch 6's transaction open.
    const second = runChild(6, 'after-write')
    assert.equal(second.signal, 'SIGKILL', second.stderr)
    assert.deepEqual(await state(), { rows: 900, distinct: 900, batch: 5 })
    // Restarted: batch 6 is replayed (DuckDB never committed it); killed after batch 9 committed.
    const third = runChild(9, 'after-commit')
    assert.equal(third.signal, 'SIGKILL', third.stderr)
    assert.deepEqual(await state(), { rows: 1500, distinct: 1500, batch: 9 })
    const last = runChild(0, 'none')
    assert.equal(last.status, 0, last.stderr)
    const rows = await sink.query(`SELECT id, "user", amount, "at" FROM payments ORDER BY id`)
    assert.equal(rows.length, CRASH_ROWS.length)
    assert.deepEqual(
      rows.map((r) => ({ id: Number(r.id), user: r.user, amount: r.amount, at: r.at })),
      CRASH_ROWS,
    )
    const offsets = await sink.query(`SELECT batch_id FROM sluice_offsets WHERE pipeline_id = 'duckdb-crash'`)
    assert.deepEqual(offsets, [{ batch_id: BigInt(Math.ceil(CRASH_ROWS.length / 150) - 1) }])
  })

  test('bad rows go to the dead-letter table with DuckDB message, the rest commits', async () => {
    const dir = await tempDir()
    interface Score {
      readonly id: number
      readonly n: number | string
      readonly label: string | null
    }
    const path = join(dir, 'w.duckdb')
    const sink = duckdb<Score>({ path, table: 'scores' })
    await sink.query(
      'CREATE TABLE scores (id BIGINT PRIMARY KEY, n BIGINT CHECK (n >= 0), label VARCHAR NOT NULL)',
    )
    await sink.query(`INSERT INTO scores VALUES (1000, 1, 'there before')`)
    const input: Score[] = Array.from({ length: 40 }, (_, i) => ({ id: i, n: i, label: `ok ${i}` }))
    input[10] = { id: 10, n: 'abc', label: 'not a number' }
    input[11] = { id: 11, n: 11, label: null }
    input[12] = { id: 12, n: -5, label: 'negative' }
    input[13] = { id: 5, n: 999, label: 'the same key twice' }
    input[14] = { id: 14, n: '42', label: 'a number as text' }
    input[15] = { id: 1000, n: 3, label: 'key already in the table' }
    const p = pipeline('scores')
      .from(memorySource('scores', input))
      .map((s) => {
        if (s.id === 20) throw new Error('boom in map')
        return s
      })
      .to(sink)
    await run(p, { checkpoint: join(dir, 'checkpoint'), trigger: availableNow, maxBatchRecords: 25 })
    const ids = (await sink.query('SELECT id FROM scores ORDER BY id')).map((r) => Number(r.id))
    const expectedIds = input
      .map((s) => s.id)
      .filter((id, i) => ![10, 11, 12, 13, 15].includes(i) && id !== 20)
      .concat(1000)
      .sort((a, b) => a - b)
    assert.deepEqual(ids, expectedIds)
    assert.deepEqual(await sink.query('SELECT n, label FROM scores WHERE id IN (5, 14) ORDER BY id'), [
      { n: 5n, label: 'ok 5' },
      { n: 42n, label: 'a number as text' },
    ])
    const letters = await sink.query(
      `SELECT batch_id, target_table, operator, reason, source_partition, source_offset, raw
         FROM sluice_dead_letters ORDER BY operator, reason`,
    )
    const reasons = letters.map((l) => `${l.operator}: ${l.reason}`)
    assert.equal(letters.length, 6, reasons.join('\n'))
    const expectReason = (pattern: RegExp) =>
      assert.ok(
        reasons.some((r) => pattern.test(r)),
        `${pattern} in\n${reasons.join('\n')}`,
      )
    expectReason(/^sink: column "n": Conversion Error: Could not convert string 'abc' to INT64/)
    expectReason(/^sink: NOT NULL constraint failed: scores\.label$/)
    expectReason(/^sink: CHECK constraint failed on table scores with expression CHECK\(\(n >= 0\)\)/)
    expectReason(/^sink: (Duplicate key "id: 5" violates primary key constraint|.*duplicate key "5")/)
    expectReason(/^sink: Duplicate key "id: 1000" violates primary key constraint/)
    expectReason(/^map.*: boom in map$/)
    const mapLetter = letters.find((l) => String(l.operator).startsWith('map'))!
    assert.equal(mapLetter.source_partition, 'memory')
    assert.equal(mapLetter.source_offset, 20n)
    const abc = letters.find((l) => String(l.reason).includes('abc'))!
    assert.deepEqual(JSON.parse(String(abc.raw)), input[10])
    assert.equal(abc.target_table, 'main.scores')
  })

  test("onError 'fail' stops with a clear user error and writes nothing of the batch", async () => {
    const dir = await tempDir()
    const path = join(dir, 'w.duckdb')
    for (const [bad, pattern] of [
      [{ id: 3, n: 'abc' }, /Could not convert string 'abc' to INT64/],
      [{ id: 3, n: -1 }, /CHECK constraint failed/],
    ] as const) {
      const sink = duckdb<{ id: number; n: number | string }>({ path, table: 'strict', onError: 'fail' })
      await sink.query('CREATE OR REPLACE TABLE strict (id BIGINT, n BIGINT CHECK (n >= 0))')
      await sink.query('DELETE FROM sluice_offsets').catch(() => {})
      const input = [{ id: 1, n: 1 }, { id: 2, n: 2 }, bad, { id: 4, n: 4 }]
      const p = pipeline('strict').from(memorySource('strict', input)).to(sink)
      const checkpoint = await tempDir()
      await assert.rejects(run(p, { checkpoint, trigger: availableNow }), (error: unknown) => {
        assert.ok(error instanceof SluiceError)
        assert.equal(error.domain, 'user')
        assert.equal(error.code, 'SLUICE_DUCKDB_ROW_REFUSED')
        assert.match(error.message, pattern)
        assert.match(error.message, /nothing of the batch was written/)
        assert.match(error.message, /Row: \{"id":3,/)
        return true
      })
      assert.deepEqual(await sink.query('SELECT count(*) AS n FROM strict'), [{ n: 0n }])
      assert.deepEqual(await sink.query('SELECT count(*) AS n FROM sluice_offsets'), [{ n: 0n }])
    }
  })

  test('several pipelines of one process write the same file through one shared instance', async () => {
    const dir = await tempDir()
    const path = join(dir, 'shared.duckdb')
    const make = (id: string, table: string, from: number, n: number) =>
      pipeline(id)
        .from(
          memorySource(
            id,
            Array.from({ length: n }, (_, i) => ({ id: from + i, source: id })),
          ),
        )
        .to(duckdb({ path, table }))
    const sinkA = duckdb({ path, table: 'a' })
    const runs = [make('one', 'a', 0, 3000), make('two', 'b', 0, 2500), make('three', 'a', 10_000, 2000)].map(
      async (p) => run(p, { checkpoint: await tempDir(), trigger: availableNow, maxBatchRecords: 200 }),
    )
    await Promise.all(runs)
    assert.deepEqual(
      await sinkA.query(
        'SELECT source, count(*) AS n, count(DISTINCT id) AS d FROM a GROUP BY ALL ORDER BY 1',
      ),
      [
        { source: 'one', n: 3000n, d: 3000n },
        { source: 'three', n: 2000n, d: 2000n },
      ],
    )
    assert.deepEqual(await sinkA.query('SELECT count(*) AS n FROM b'), [{ n: 2500n }])
    assert.deepEqual(await sinkA.query('SELECT pipeline_id, batch_id FROM sluice_offsets ORDER BY 1'), [
      { pipeline_id: 'one', batch_id: 14n },
      { pipeline_id: 'three', batch_id: 9n },
      { pipeline_id: 'two', batch_id: 12n },
    ])
    assert.equal(openDatabaseCount(), 0)
  })

  test('an existing table that does not fit is a UsageError listing every mismatch, before anything is written', async () => {
    const dir = await tempDir()
    const path = join(dir, 'w.duckdb')
    const admin = duckdb({ path, table: 'admin' })
    await admin.query('CREATE TABLE people (id BIGINT, flag BOOLEAN, must VARCHAR NOT NULL)')
    const input = [{ id: 1, flag: 'yes', extra: 1 }]
    const strict = pipeline('people')
      .from(memorySource('people', input))
      .to(duckdb({ path, table: 'people', createTable: false }))
    await assert.rejects(
      run(strict, { checkpoint: await tempDir(), trigger: availableNow }),
      (error: unknown) => {
        assert.ok(error instanceof UsageError)
        assert.match(error.message, /table main\.people in .* does not fit the rows/)
        assert.match(error.message, /column "flag" is BOOLEAN but the rows hold text/)
        assert.match(error.message, /the rows have a field "extra" the table lacks/)
        assert.match(
          error.message,
          /column "must" is NOT NULL without a default, but the rows have no field "must"/,
        )
        return true
      },
    )
    assert.deepEqual(await admin.query('SELECT count(*) AS n FROM people'), [{ n: 0n }])
    const declared = pipeline('people2')
      .from(memorySource('people', [{ id: 1, must: 'x' }]))
      .to(duckdb({ path, table: 'people', columns: { id: 'VARCHAR', must: 'VARCHAR', nope: 'INTEGER' } }))
    await assert.rejects(
      run(declared, { checkpoint: await tempDir(), trigger: availableNow }),
      (error: unknown) => {
        assert.ok(error instanceof UsageError)
        assert.match(error.message, /column "id" is BIGINT in the table but VARCHAR in columns/)
        assert.match(error.message, /column "nope" \(INTEGER in columns\) is missing/)
        return true
      },
    )
    const upsert = pipeline('people3')
      .from(memorySource('people', [{ id: 1, must: 'x' }]))
      .to(duckdb({ path, table: 'people', mode: 'upsert', key: ['id'] }))
    await assert.rejects(
      run(upsert, { checkpoint: await tempDir(), trigger: availableNow }),
      /upsert needs a PRIMARY KEY or UNIQUE constraint on \(id\)/,
    )
    assert.throws(() => duckdb({ path, table: 't', mode: 'upsert' }), UsageError)
  })

  test('identifiers and values with quotes and unicode round-trip; nothing is interpolated', async () => {
    const dir = await tempDir()
    const nasty = [
      `it's`,
      `say "hi"`,
      `back\\slash`,
      `line\nbreak`,
      `'); DROP TABLE x; --`,
      `ünïcødé ✓ 𝄞 🦆`,
      `$1 ? :name`,
    ]
    const rows = nasty.map((text, i) => ({
      'we"ird key': `k'${i}"`,
      'sp ace': text,
      ünïcødé: { nested: text, list: [text] },
      'semi;colon': i,
    }))
    const table = `tab"le 'x' ✓`
    const schema = `sch"ema`
    const sink = duckdb<(typeof rows)[number]>({
      path: join(dir, `dir "q"`, `w'eird ✓.duckdb`),
      schema,
      table,
      mode: 'upsert',
      key: ['we"ird key'],
      deadLetterTable: `dl"q`,
    })
    await run(pipeline('quoting').from(memorySource('rows', rows)).to(sink), {
      checkpoint: join(dir, 'checkpoint'),
      trigger: availableNow,
      maxBatchRecords: 3,
    })
    const back = await sink.query(`SELECT * FROM "sch""ema"."tab""le 'x' ✓" ORDER BY "semi;colon"`)
    assert.deepEqual(
      back.map((r) => ({
        ...r,
        ünïcødé: JSON.parse(String(r.ünïcødé)),
        'semi;colon': Number(r['semi;colon']),
      })),
      rows,
    )
    assert.deepEqual(await sink.query(`SELECT count(*) AS n FROM "sch""ema"."dl""q"`), [{ n: 0n }])
  })

  test('an in-memory database outlives the run until close(); new fields become columns', async () => {
    const before = openDatabaseCount()
    const sink = duckdb<Record<string, unknown>>({ path: ':memory:', table: 'events' })
    const input = [
      ...Array.from({ length: 50 }, (_, i) => ({ id: i, total: i })),
      ...Array.from({ length: 50 }, (_, i) => ({ id: 50 + i, total: i + 0.5, country: 'DE' })),
    ]
    await run(pipeline('memory').from(memorySource('events', input)).to(sink), {
      checkpoint: await tempDir(),
      trigger: availableNow,
      maxBatchRecords: 50,
    })
    assert.deepEqual(
      await sink.query('SELECT count(*) AS n, sum(total) AS t, count(country) AS c FROM events'),
      [{ n: 100n, t: 1225 + 1250, c: 50n }],
    )
    const types = await sink.query(
      `SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'events' ORDER BY column_index`,
    )
    assert.deepEqual(
      types.map((c) => `${c.column_name} ${c.data_type}`),
      ['id DOUBLE', 'total DOUBLE', 'country VARCHAR'],
    )
    await sink.close()
    assert.equal(openDatabaseCount(), before)
  })

  test('a reset checkpoint replaying from the start against a database further along fails instead of skipping', async () => {
    const dir = await tempDir()
    const sink = duckdb<Click>({ path: join(dir, 'w.duckdb'), table: 'clicks' })
    const p = pipeline('lineage').from(memorySource('clicks', clicks)).to(sink)
    await run(p, { checkpoint: join(dir, 'a'), trigger: availableNow, maxBatchRecords: 300 })
    // The runtime starts from the database's position (lost-checkpoint.test.ts); one that does not ask
    // replays from the start, which the sink refuses.
    const blind = pipeline('lineage').from(memorySource('clicks', clicks)).to(withoutPosition(sink))
    await assert.rejects(
      run(blind, { checkpoint: join(dir, 'b'), trigger: availableNow, maxBatchRecords: 300 }),
      (error: unknown) => {
        assert.ok(error instanceof SluiceError)
        assert.equal(error.code, 'SLUICE_DUCKDB_OFFSETS_MISMATCH')
        assert.match(error.message, /committed batch 3 here, but the checkpoint is at batch 0/)
        assert.match(error.message, /DELETE FROM sluice_offsets WHERE pipeline_id = 'lineage'/)
        return true
      },
    )
    assert.deepEqual(await sink.query('SELECT count(*) AS n FROM clicks'), [{ n: 1000n }])
  })
  test('upsert: the same key twice in a batch keeps the last row, later batches update it', async () => {
    const sink = duckdb<{ user: string; n: number; seen: string }>({
      path: ':memory:',
      table: 'users',
      mode: 'upsert',
      key: ['user'],
    })
    const input = Array.from({ length: 60 }, (_, i) => ({ user: `u${i % 7}`, n: i, seen: `s${i}` }))
    await run(pipeline('users').from(memorySource('users', input)).to(sink), {
      checkpoint: await tempDir(),
      trigger: availableNow,
      maxBatchRecords: 8,
    })
    const expected = new Map<string, { user: string; n: number; seen: string }>()
    for (const r of input) expected.set(r.user, { user: r.user, n: r.n, seen: r.seen })
    assert.deepEqual(
      await sink.query('SELECT "user", n, seen FROM users ORDER BY "user"'),
      [...expected.values()].sort((a, b) => a.user.localeCompare(b.user)),
    )
    await sink.close()
  })

  test('a writer asked to write a batch it already committed writes nothing; hasCommitted reads the offsets row', async () => {
    const dir = await tempDir()
    const sink = duckdb<{ id: number }>({ path: join(dir, 'w.duckdb'), table: 't' })
    const acknowledged: number[] = []
    const source: SourceReader = {
      description: 'test',
      bounded: true,
      async open() {},
      async poll() {
        return []
      },
      async endPositions() {
        return {}
      },
      async acknowledge(next) {
        acknowledged.push(next.p ?? -1)
      },
      async close() {},
    }
    const batch = (batchId: number): OutputBatch<{ id: number }> => ({
      batchId,
      rows: [{ id: batchId * 10 }, { id: batchId * 10 + 1 }],
      deadLetters: [],
    })
    const first = sink.create()
    await first.open({ pipelineId: 'direct', source })
    for (const id of [0, 1]) {
      const b = batch(id)
      await first.write(b)
      await first.commit(b, { next: { p: (id + 1) * 2 }, records: [] })
    }
    await first.close()
    const second = sink.create()
    await second.open({ pipelineId: 'direct', source })
    assert.equal(await second.hasCommitted?.({ batchId: 1, end: { p: 4 } }), true)
    assert.equal(await second.hasCommitted?.({ batchId: 2, end: { p: 6 } }), false)
    const again = batch(1)
    await second.write(again)
    await second.commit(again, { next: { p: 4 }, records: [] })
    const next = batch(2)
    await second.write(next)
    await second.commit(next, { next: { p: 6 }, records: [] })
    await second.close()
    assert.deepEqual(
      (await sink.query('SELECT id FROM t ORDER BY id')).map((r) => Number(r.id)),
      [0, 1, 10, 11, 20, 21],
    )
    assert.deepEqual(acknowledged, [], 'the runtime, not the sink, acknowledges the source')
  })

  test('dead letters keep their raw input: text as is, other bytes as base64', async () => {
    const sink = duckdb({ path: ':memory:', table: 'ids' })
    const input = [Buffer.from('{"id":1}'), Buffer.from([0xff, 0xfe, 0x41]), Buffer.from('{"id":"two"}')]
    const p = pipeline('raw-letters')
      .from(memorySource('raw', input))
      .parse(z.object({ id: z.number() }))
      .to(sink)
    await run(p, { checkpoint: await tempDir(), trigger: availableNow })
    // z.number() declares a number, not an integer: DOUBLE.
    assert.deepEqual(await sink.query('SELECT id FROM ids'), [{ id: 1 }])
    const letters = await sink.query(
      'SELECT operator, source_offset, raw, raw_encoding FROM sluice_dead_letters ORDER BY source_offset',
    )
    assert.equal(letters.length, 2)
    assert.equal(letters[0]?.raw_encoding, 'base64')
    assert.deepEqual(Buffer.from(String(letters[0]?.raw), 'base64'), input[1])
    assert.equal(letters[1]?.raw, '{"id":"two"}')
    assert.equal(letters[1]?.raw_encoding, null)
    await sink.close()
  })

  test('a database file another process holds open is a clear error', async () => {
    const dir = await tempDir()
    const path = join(dir, 'held.duckdb')
    const holder = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { DuckDBInstance } from '@duckdb/node-api'
         const db = await DuckDBInstance.create(${JSON.stringify(path)})
         await (await db.connect()).run('CREATE TABLE x (a INTEGER)')
         console.log('ready'); setInterval(() => {}, 1000)`,
      ],
      { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] },
    )
    try {
      await once(holder.stdout, 'data')
      const p = pipeline('held')
        .from(memorySource('rows', [{ a: 1 }]))
        .to(duckdb({ path, table: 't' }))
      await assert.rejects(
        run(p, { checkpoint: await tempDir(), trigger: availableNow }),
        (error: unknown) => {
          assert.ok(error instanceof SluiceError)
          assert.equal(error.code, 'SLUICE_DUCKDB_LOCKED')
          assert.match(error.message, /is open in another process/)
          return true
        },
      )
    } finally {
      holder.kill('SIGKILL')
    }
    assert.equal(openDatabaseCount(), 0)
  })
  test('declared columns: exactly those fields, in those types, other types cast by DuckDB', async () => {
    const sink = duckdb<Record<string, unknown>>({
      path: ':memory:',
      table: 'typed',
      columns: {
        id: 'INTEGER',
        at: 'TIMESTAMPTZ',
        day: 'DATE',
        amount: 'DECIMAL(10,2)',
        ref: 'UUID',
        doc: 'json',
        tags: 'VARCHAR[]',
      },
    })
    const input = [
      {
        id: 1,
        at: '2024-06-01T12:00:00.123456Z',
        day: '2024-06-01',
        amount: 12.345,
        ref: '6ba7b810-9dad-11d1-80b4-00c04fd430c8',
        doc: 'just text',
        tags: ['a', "b'c"],
        ignored: true,
      },
      { id: 2, at: 1717243200000, day: null, amount: '7', ref: null, doc: { a: [1, null] }, tags: [] },
    ]
    await run(pipeline('typed').from(memorySource('typed', input)).to(sink), {
      checkpoint: await tempDir(),
      trigger: availableNow,
    })
    assert.deepEqual(
      await sink.query(
        `SELECT id, strftime("at", '%Y-%m-%dT%H:%M:%S.%fZ') AS "at", CAST(day AS VARCHAR) AS day,
                CAST(amount AS VARCHAR) AS amount, CAST(ref AS VARCHAR) AS ref, doc, tags FROM typed ORDER BY id`,
      ),
      [
        {
          id: 1,
          at: '2024-06-01T12:00:00.123456Z',
          day: '2024-06-01',
          amount: '12.35',
          ref: '6ba7b810-9dad-11d1-80b4-00c04fd430c8',
          doc: '"just text"',
          tags: ['a', "b'c"],
        },
        {
          id: 2,
          at: '2024-06-01T12:00:00.000000Z',
          day: null,
          amount: '7.00',
          ref: null,
          doc: '{"a":[1,null]}',
          tags: [],
        },
      ],
    )
    const columns = await sink.query(
      `SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'typed' ORDER BY column_index`,
    )
    assert.deepEqual(
      columns.map((c) => `${c.column_name} ${c.data_type}`),
      [
        'id INTEGER',
        'at TIMESTAMP WITH TIME ZONE',
        'day DATE',
        'amount DECIMAL(10,2)',
        'ref UUID',
        'doc JSON',
        'tags VARCHAR[]',
      ],
    )
    await sink.close()
  })
})
