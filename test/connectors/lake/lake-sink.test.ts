import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { files } from '../../../src/connectors/files/index.ts'
import { lake } from '../../../src/connectors/lake/index.ts'
import { lakeTable } from '../../../src/connectors/lake/source.ts'
import { memory } from '../../../src/connectors/testing/memory.ts'
import { memorySource } from '../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { run } from '../../../src/runtime/run.ts'
import type { OutputBatch, SinkWriter } from '../../../src/runtime/sink.ts'
import type { SourceReader } from '../../../src/runtime/source.ts'
import {
  clickstream,
  listAll,
  logEntries,
  type Row,
  readTable,
  sortRows,
  tempDir,
  visibleDataFiles,
} from './helpers.ts'

const byDateAndType = (row: Row) => ({
  event_date: String(row.event_time).slice(0, 10),
  event_type: row.event_type as string,
})

describe('lake sink', () => {
  test('Parquet: rows written through run() come back equal through lakeTable(), in Hive partition folders', async () => {
    const dir = await tempDir()
    const table = join(dir, 'events')
    const input = clickstream(3000)
    const write = pipeline('lake-writer')
      .from(memorySource<Row>('events', input))
      .to(lake<Row>({ path: table, partitionBy: byDateAndType }))
    const summary = await run(write, {
      checkpoint: join(dir, 'ckpt'),
      trigger: { kind: 'availableNow' },
      maxBatchRecords: 700,
    })
    assert.equal(summary.outputRows, 3000)

    const output = await readTable(table)
    assert.equal(output.length, input.length)
    assert.deepEqual(sortRows(output), sortRows(input))

    const data = await visibleDataFiles(table)
    assert.ok(data.length > 0)
    for (const file of data) {
      assert.match(file, /^event_date=2026-11-2[45]\/event_type=[a-z_]+\/part-\d+-[0-9a-f]{12}-\d+\.parquet$/)
    }
    assert.ok(data.some((f) => f.startsWith('event_date=2026-11-24/')))
    assert.ok(data.some((f) => f.startsWith('event_date=2026-11-25/event_type=purchase/')))
    // The log lists exactly the data files, each in the folder of its partition values, with true row counts.
    const entries = await logEntries(table)
    assert.deepEqual(
      entries.map((e) => e.version),
      entries.map((_, i) => i),
    )
    assert.deepEqual(entries.map((e) => e.batchId).sort(), [0, 1, 2, 3, 4])
    assert.deepEqual(entries.flatMap((e) => e.files.map((f) => f.path)).sort(), data)
    let firstRow = 0
    for (const entry of entries) {
      assert.equal(entry.firstRow, firstRow)
      firstRow += entry.rows
      for (const file of entry.files) {
        assert.ok(
          file.path.startsWith(
            `event_date=${file.partition.event_date}/event_type=${file.partition.event_type}/`,
          ),
        )
      }
    }
    assert.equal(firstRow, 3000)
    // Within one batch, one file per partition.
    for (const entry of entries) {
      const folders = entry.files.map((f) => f.path.slice(0, f.path.lastIndexOf('/')))
      assert.equal(new Set(folders).size, folders.length)
    }
  })

  test('Parquet keeps types: integers, doubles, bigints, dates, booleans, nested JSON, null versus missing', async () => {
    const dir = await tempDir()
    const table = join(dir, 'types')
    const input: Row[] = Array.from({ length: 500 }, (_, i) => ({
      id: i,
      big: i % 7 === 0 ? null : BigInt(i) * 10_000_000_000n,
      ratio: i / 7,
      negativeZero: i === 3 ? -0 : i,
      huge: i * 1e12,
      flag: i % 2 === 0,
      at: new Date(Date.UTC(2026, 10, 25, 0, 0, i)),
      label: `row ${i} ✓ 日本`,
      nested: { list: [i, `${i}`, { deep: i % 3 === 0 ? null : true }] },
      mixed: i % 3 === 0 ? 'text' : i % 3 === 1 ? i : { i },
      ...(i % 4 === 0 ? { optional: `o${i}` } : {}),
      nullable: i % 5 === 0 ? `n${i}` : null,
      ...(i % 3 === 0 ? {} : { both: i % 3 === 1 ? null : i }),
    }))
    const write = pipeline('types')
      .from(memorySource<Row>('types', input))
      .to(lake<Row>({ path: table }))
    await run(write, {
      checkpoint: join(dir, 'ckpt'),
      trigger: { kind: 'availableNow' },
      maxBatchRecords: 200,
    })
    const output = await readTable(table)
    assert.deepEqual(sortRows(output), sortRows(input))
    const third = output.find((r) => r.id === 3)
    assert.ok(Object.is(third?.negativeZero, -0))
    assert.ok(output.every((r) => r.at instanceof Date && typeof r.ratio === 'number'))
    assert.ok(output.every((r) => 'optional' in r === ((r.id as number) % 4 === 0)))
    assert.ok(output.every((r) => 'nullable' in r))
    assert.ok(output.every((r) => 'both' in r === ((r.id as number) % 3 !== 0)))
  })

  test('JSON lines: the same round trip, and files() over the table folder reads exactly the committed rows', async () => {
    const dir = await tempDir()
    const table = join(dir, 'events')
    const input = clickstream(1500, 11)
    const write = pipeline('jsonl-writer')
      .from(memorySource<Row>('events', input))
      .to(lake<Row>({ path: table, format: 'jsonl', partitionBy: ['platform', 'event_type'] }))
    await run(write, {
      checkpoint: join(dir, 'ckpt'),
      trigger: { kind: 'availableNow' },
      maxBatchRecords: 400,
    })
    const data = await visibleDataFiles(table)
    for (const file of data)
      assert.match(file, /^platform=(web|ios|android)\/event_type=[a-z_]+\/part-.*\.jsonl$/)
    assert.deepEqual(sortRows(await readTable(table)), sortRows(input))

    const viaFiles = memory<Row>()
    await run(
      pipeline('files-reader')
        .from(files({ path: table, format: 'jsonl' }))
        .map((line) => JSON.parse(String(line)) as Row)
        .to(viaFiles),
      { checkpoint: join(dir, 'ckpt-files'), trigger: { kind: 'availableNow' } },
    )
    assert.deepEqual(sortRows(viaFiles.rows), sortRows(input))
  })

  test('targetFileBytes splits a partition of one batch into several files', async () => {
    const dir = await tempDir()
    const input = clickstream(2000, 3)
    const jsonl = join(dir, 'jsonl')
    await run(
      pipeline('split-jsonl')
        .from(memorySource<Row>('events', input))
        .to(lake<Row>({ path: jsonl, format: 'jsonl', targetFileBytes: 64 * 1024 })),
      { checkpoint: join(dir, 'ckpt-jsonl'), trigger: { kind: 'availableNow' } },
    )
    const [entry] = await logEntries(jsonl)
    assert.ok(entry)
    assert.ok(entry.files.length >= 8, `${entry.files.length} files`)
    for (const file of entry.files.slice(0, -1)) {
      assert.ok(file.bytes >= 64 * 1024 && file.bytes < 64 * 1024 + 4096, `${file.bytes} bytes`)
      assert.equal((await readFile(join(jsonl, file.path))).length, file.bytes)
    }
    assert.deepEqual(
      entry.files.map((f) => f.path),
      entry.files.map((_, i) => entry.files[0]?.path.replace(/-0\.jsonl$/, `-${i}.jsonl`)),
    )
    assert.deepEqual(sortRows(await readTable(jsonl)), sortRows(input))

    const parquet = join(dir, 'parquet')
    const many = clickstream(7000, 4)
    await run(
      pipeline('split-parquet')
        .from(memorySource<Row>('events', many))
        .to(lake<Row>({ path: parquet, targetFileBytes: 100 * 1024, rowGroupRows: 2048 })),
      { checkpoint: join(dir, 'ckpt-parquet'), trigger: { kind: 'availableNow' } },
    )
    const [pq] = await logEntries(parquet)
    assert.ok(pq)
    // DuckDB closes a file at the first row group (2048 rows) that reaches the target.
    assert.deepEqual(
      pq.files.map((f) => f.rows),
      [2048, 2048, 2048, 856],
    )
    for (const file of pq.files.slice(0, -1)) assert.ok(file.bytes >= 100 * 1024, `${file.bytes} bytes`)
    assert.deepEqual(sortRows(await readTable(parquet)), sortRows(many))
  })

  test('a replayed batch that the table already holds writes nothing; the same batch id over other input fails', async () => {
    const dir = await tempDir()
    const table = join(dir, 't')
    const spec = lake<Row>({ path: table, format: 'jsonl' })
    const source = { acknowledge: async () => {} } as unknown as SourceReader
    const batch: OutputBatch<Row> = { batchId: 0, rows: [{ a: 1 }, { a: 2 }], deadLetters: [] }
    const first: SinkWriter<Row> = spec.create()
    await first.open({ pipelineId: 'p', source })
    await first.write(batch)
    await first.commit(batch, { next: { x: 2 }, records: [] })
    await first.close()
    const before = await listAll(table)

    const again = spec.create()
    await again.open({ pipelineId: 'p', source })
    assert.equal(await again.hasCommitted?.({ batchId: 0, end: { x: 2 } }), true)
    assert.equal(await again.hasCommitted?.({ batchId: 0, end: { x: 3 } }), false)
    assert.equal(await again.hasCommitted?.({ batchId: 1, end: { x: 4 } }), false)
    await again.write(batch)
    await again.commit(batch, { next: { x: 2 }, records: [] })
    assert.deepEqual(await listAll(table), before)
    await again.write(batch)
    await assert.rejects(again.commit(batch, { next: { x: 5 }, records: [] }), /checkpoint was reset/)
    // Another writer id is another writer: its batch 0 is new.
    const other = lake<Row>({ path: table, format: 'jsonl', writerId: 'p2' }).create()
    await other.open({ pipelineId: 'p', source })
    await other.write(batch)
    await other.commit(batch, { next: { x: 5 }, records: [] })
    assert.equal((await logEntries(table)).length, 2)
    assert.equal((await readTable(table)).length, 4)
  })

  test('a reader stopped mid-way resumes from its checkpoint and reads every row exactly once', async () => {
    const dir = await tempDir()
    const table = join(dir, 't')
    const input = clickstream(2500, 5)
    await run(
      pipeline('w')
        .from(memorySource<Row>('events', input))
        .to(lake<Row>({ path: table, rowGroupRows: 300 })),
      {
        checkpoint: join(dir, 'ckpt-w'),
        trigger: { kind: 'availableNow' },
        maxBatchRecords: 1000,
      },
    )
    const out = memory<Row>()
    const reader = pipeline('r')
      .from(lakeTable<Row>({ path: table }))
      .to(out)
    const checkpoint = join(dir, 'ckpt-r')
    for (let i = 0; i < 4; i++)
      await run(reader, {
        checkpoint,
        trigger: { kind: 'availableNow' },
        maxBatchRecords: 170,
        maxBatches: 2,
      })
    assert.equal(out.rows.length, 4 * 2 * 170)
    await run(reader, { checkpoint, trigger: { kind: 'availableNow' }, maxBatchRecords: 170 })
    assert.deepEqual(out.rows, input)
  })

  test('options are checked', () => {
    assert.throws(() => lake({ path: '' }), /path/)
    assert.throws(() => lake({ path: 'x', format: 'csv' as 'jsonl' }), /format/)
    assert.throws(() => lake({ path: 'x', targetFileBytes: 0 }), /targetFileBytes/)
    assert.throws(() => lake({ path: 'x', format: 'jsonl', compression: 'zstd' }), /compress/)
    assert.throws(() => lakeTable({ path: '' }), /path/)
  })
})
