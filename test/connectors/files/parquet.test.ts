import assert from 'node:assert/strict'
import { mkdir, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { files } from '../../../src/connectors/files/index.ts'
import { lake } from '../../../src/connectors/lake/index.ts'
import { memory } from '../../../src/connectors/testing/memory.ts'
import { memorySource } from '../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { run } from '../../../src/runtime/run.ts'
import { clickstream, type Row, sortRows } from '../lake/helpers.ts'
import { context, drain, tempDir, waitFor } from './helpers.ts'

/** Plain Parquet files written by DuckDB (not by lake()): what another tool would leave in a folder. */
async function duckParquet(path: string, sql: string): Promise<void> {
  const { DuckDBInstance } = await import('@duckdb/node-api')
  const db = await DuckDBInstance.create(':memory:')
  const connection = await db.connect()
  await connection.run(`COPY (${sql}) TO '${path}' (FORMAT parquet, ROW_GROUP_SIZE 1000)`)
  connection.closeSync()
  db.closeSync()
}

const write = (
  table: string,
  dir: string,
  id: string,
  rows: Row[],
  format: 'parquet' | 'jsonl' = 'parquet',
) =>
  run(
    pipeline(id)
      .from(memorySource<Row>(id, rows))
      .to(lake<Row>({ path: table, format, partitionBy: ['event_type'] })),
    { checkpoint: join(dir, `ckpt-${id}`), trigger: { kind: 'availableNow' }, maxBatchRecords: 300 },
  )

describe('files() over Parquet and lake tables', () => {
  test('Parquet files in a folder: every row once, in name order, offsets are row indexes; a replay resumes exactly', async () => {
    const dir = await tempDir()
    await mkdir(join(dir, 'in', 'sub'), { recursive: true })
    await duckParquet(join(dir, 'in', 'a.parquet'), 'SELECT range AS id, range % 7 AS k FROM range(2500)')
    await duckParquet(
      join(dir, 'in', 'sub', 'b.parquet'),
      "SELECT range + 10000 AS id, 'x' AS k FROM range(300)",
    )
    await writeFile(join(dir, 'in', 'notes.txt'), 'not parquet')
    const reader = files({ path: join(dir, 'in'), format: 'parquet' }).create(context)
    await reader.open(undefined)
    const records = await drain(reader, { maxRecords: 700 })
    assert.equal(records.length, 2800)
    assert.deepEqual(
      records.slice(0, 3).map((r) => [r.partition, r.offset, Number((r.value as Row).id)]),
      [
        ['a.parquet', 0, 0],
        ['a.parquet', 1, 1],
        ['a.parquet', 2, 2],
      ],
    )
    assert.equal(records.at(-1)?.partition, 'sub/b.parquet')
    assert.deepEqual(await reader.endPositions(), { 'a.parquet': 2500, 'sub/b.parquet': 300 })

    const resumed = files({ path: join(dir, 'in'), format: 'parquet' }).create(context)
    await resumed.open({ 'a.parquet': 2400 })
    const rest = await drain(resumed)
    assert.equal(rest.length, 400)
    assert.equal(Number((rest[0]?.value as Row | undefined)?.id), 2400)
  })

  test('a file that is not Parquet fails a batch run with its name', async () => {
    const dir = await tempDir()
    await writeFile(join(dir, 'broken.parquet'), 'PAR1 but not really')
    const reader = files({ path: dir, format: 'parquet' }).create(context)
    await assert.rejects(reader.open(undefined), /broken\.parquet is not a readable Parquet file/)
  })

  test('watch mode picks up new Parquet files; one still being written is read once complete', async () => {
    const dir = await tempDir()
    await duckParquet(join(dir, '1.parquet'), 'SELECT range AS id FROM range(100)')
    const reader = files({ path: dir, format: 'parquet', watch: true, pollIntervalMs: 10 }).create(context)
    await reader.open(undefined)
    assert.equal((await drain(reader)).length, 100)
    await writeFile(join(dir, '2.parquet'), 'PAR1') // a writer has started
    assert.equal((await drain(reader)).length, 0)
    await duckParquet(join(dir, 'tmp.out'), 'SELECT range AS id FROM range(50)')
    await rename(join(dir, 'tmp.out'), join(dir, '2.parquet'))
    assert.equal((await drain(reader)).length, 50)
  })

  test('a Parquet lake table: files() in batch reads exactly lakeTable’s rows, through the commit log', async () => {
    const dir = await tempDir()
    const table = join(dir, 't')
    const input = clickstream(1200, 61)
    await write(table, dir, 'w', input)
    // A staged file of an uncommitted batch is there too (hidden): files() must not see it.
    await mkdir(join(table, '.sluice-staging', 'w', '99'), { recursive: true })
    await writeFile(join(table, '.sluice-staging', 'w', '99', 'part-99-000000000000-0.parquet'), 'junk')
    const out = memory<Row>()
    await run(
      pipeline('files-batch')
        .from(files({ path: table, format: 'parquet' }))
        .map((row) => row as Row)
        .to(out),
      { checkpoint: join(dir, 'ckpt-r'), trigger: { kind: 'availableNow' } },
    )
    assert.deepEqual(sortRows(out.rows), sortRows(input))
  })

  test('a lake table in watch mode: new commits appear; the same pipeline as a batch job gives the same rows', async () => {
    const dir = await tempDir()
    const table = join(dir, 't')
    const first = clickstream(600, 62)
    const second = clickstream(500, 63)
    await write(table, dir, 'w1', first)
    const purchases = (watch: boolean, sink = memory<Row>()) => ({
      sink,
      pipeline: pipeline('views')
        .from(files({ path: table, format: 'parquet', watch, pollIntervalMs: 20 }))
        .map((row) => row as Row)
        .filter((e) => e.event_type === 'page_view')
        .to(sink),
    })
    const expected = (rows: Row[]) => rows.filter((e) => e.event_type === 'page_view')
    const stop = new AbortController()
    const streaming = purchases(true)
    const reading = run(streaming.pipeline, {
      checkpoint: join(dir, 'ckpt-follow'),
      trigger: { kind: 'processingTime', intervalMs: 30 },
      signal: stop.signal,
    })
    await waitFor(() => streaming.sink.rows.length === expected(first).length, 20_000, 'the rows')
    await write(table, dir, 'w2', second)
    await waitFor(
      () => streaming.sink.rows.length === expected([...first, ...second]).length,
      20_000,
      'the rows',
    )
    stop.abort()
    await reading
    assert.deepEqual(sortRows(streaming.sink.rows), sortRows(expected([...first, ...second])))
    const batch = purchases(false)
    await run(batch.pipeline, { checkpoint: join(dir, 'ckpt-batch'), trigger: { kind: 'availableNow' } })
    assert.deepEqual(batch.sink.rows, streaming.sink.rows)
  })

  test('a JSON-lines lake table yields lines of text, as any JSON-lines file; the wrong format is refused', async () => {
    const dir = await tempDir()
    const table = join(dir, 't')
    const input = clickstream(400, 64)
    await write(table, dir, 'w', input, 'jsonl')
    const reader = files({ path: table, format: 'jsonl' }).create(context)
    await reader.open(undefined)
    const records = await drain(reader)
    assert.ok(records.every((r) => typeof r.value === 'string'))
    assert.deepEqual(sortRows(records.map((r) => JSON.parse(r.value as string) as Row)), sortRows(input))
    const wrong = files({ path: table, format: 'parquet' }).create(context)
    await wrong.open(undefined)
    await assert.rejects(drain(wrong), /lake table of jsonl files .* give format: 'jsonl'/)
    assert.throws(() => files({ path: table, format: 'csv' }).create(context), /lake table/)
  })

  test('options are checked', () => {
    assert.throws(() => files({ path: 'x', format: 'avro' as 'csv' }), /"jsonl", "csv" or "parquet"/)
    assert.throws(() => files({ path: 's3://b/t', format: 'csv' }), /not CSV/)
    assert.throws(() => files({ path: 'x', format: 'parquet', s3: { region: 'r' } }), /s3 options/)
  })
})
