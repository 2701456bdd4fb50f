import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { lake, lakeTable } from '../../../src/connectors/lake/index.ts'
import { memorySource } from '../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { run } from '../../../src/runtime/run.ts'
import type { SinkSpec } from '../../../src/runtime/sink.ts'
import { waitFor } from '../../helpers/wait.ts'
import {
  clickstream,
  dyingAt,
  listAll,
  logEntries,
  type Row,
  readTable,
  sortRows,
  tempDir,
  visibleDataFiles,
} from './helpers.ts'

describe('lake rolling by time and size', () => {
  for (const format of ['parquet', 'jsonl'] as const) {
    test(`${format}: 40 small batches end as one file per partition, the same rows, one commit`, async () => {
      const dir = await tempDir()
      const table = join(dir, 't')
      const input = clickstream(4000, 51)
      const summary = await run(
        pipeline('small-batches')
          .from(memorySource<Row>('e', input))
          .to(lake<Row>({ path: table, format, partitionBy: ['event_type'], rollInterval: '1h' })),
        { checkpoint: join(dir, 'ckpt'), trigger: { kind: 'availableNow' }, maxBatchRecords: 100 },
      )
      assert.equal(summary.batches, 40)
      const entries = await logEntries(table)
      assert.equal(entries.length, 1, 'the roll at the end of the run is the only commit')
      assert.equal(entries[0]?.firstBatchId, 0)
      assert.equal(entries[0]?.batchId, 39)
      assert.equal(entries[0]?.batches?.length, 40)
      const types = new Set(input.map((r) => r.event_type))
      assert.equal((await visibleDataFiles(table)).length, types.size, 'one file per partition')
      assert.deepEqual(sortRows(await readTable(table)), sortRows(input))
      assert.deepEqual(
        (await listAll(table)).filter((f) => f.startsWith('.sluice-staging/')),
        [],
      )
    })
  }

  test('without rolling, the same run writes a file per partition and batch', async () => {
    const dir = await tempDir()
    const table = join(dir, 't')
    const input = clickstream(4000, 51)
    await run(
      pipeline('small-batches')
        .from(memorySource<Row>('e', input))
        .to(lake<Row>({ path: table, partitionBy: ['event_type'] })),
      { checkpoint: join(dir, 'ckpt'), trigger: { kind: 'availableNow' }, maxBatchRecords: 100 },
    )
    assert.equal((await logEntries(table)).length, 40)
    assert.ok((await visibleDataFiles(table)).length > 100)
  })

  test('a roll happens when the spooled rows of a partition would fill targetFileBytes', async () => {
    const dir = await tempDir()
    const table = join(dir, 't')
    const input = clickstream(6000, 52)
    const summary = await run(
      pipeline('by-size')
        .from(memorySource<Row>('e', input))
        .to(lake<Row>({ path: table, format: 'jsonl', rollInterval: '1h', targetFileBytes: 256 * 1024 })),
      { checkpoint: join(dir, 'ckpt'), trigger: { kind: 'availableNow' }, maxBatchRecords: 100 },
    )
    assert.equal(summary.batches, 60)
    const entries = await logEntries(table)
    assert.ok(entries.length >= 3 && entries.length <= 12, `${entries.length} commits`)
    // Every batch is in exactly one entry, in order.
    assert.deepEqual(
      entries.flatMap((e) => (e.batches ?? []).map((b) => b.batchId)),
      Array.from({ length: 60 }, (_, i) => i),
    )
    // The first roll learns how spooled bytes turn into file bytes; from then on files come close to the target.
    const sizes = entries.slice(1, -1).flatMap((e) => e.files.map((f) => f.bytes))
    assert.ok(sizes.length > 0)
    for (const size of sizes) assert.ok(size >= 180 * 1024 && size <= 256 * 1024, `${sizes.join(', ')} bytes`)
    assert.deepEqual(await readTable(table), input)
  })

  test('by time: a running pipeline’s spooled rows roll when the interval has passed, while it waits for input', async () => {
    const dir = await tempDir()
    const upstream = join(dir, 'upstream')
    const table = join(dir, 't')
    const input = clickstream(300, 53)
    await run(
      pipeline('upstream')
        .from(memorySource<Row>('e', input))
        .to(lake<Row>({ path: upstream, format: 'jsonl' })),
      {
        checkpoint: join(dir, 'ckpt-up'),
        trigger: { kind: 'availableNow' },
        maxBatchRecords: 100,
      },
    )
    const stop = new AbortController()
    const running = run(
      pipeline('by-time')
        .from(lakeTable<Row>({ path: upstream, follow: true, pollIntervalMs: 20 }))
        .to(lake<Row>({ path: table, format: 'jsonl', rollInterval: '300ms' })),
      {
        checkpoint: join(dir, 'ckpt'),
        trigger: { kind: 'processingTime', intervalMs: 50 },
        maxBatchRecords: 100,
        signal: stop.signal,
      },
    )
    // Every row must roll while the pipeline runs, by the timer alone (no input arrives after the first
    // ~3 batches). On a busy machine the first roll may come before all rows are spooled: later rolls take
    // the rest, so wait for all of them, not for the first.
    // A failed wait must still stop the pipeline: a run left going keeps the test file's process alive.
    try {
      const started = Date.now()
      let firstRollAfter: number | undefined
      await waitFor(
        async () => {
          // The table is there once its first roll has committed.
          if ((await logEntries(table)).length === 0) return false
          firstRollAfter ??= Date.now() - started
          return (await readTable(table)).length === input.length
        },
        120_000,
        'every row rolled by the timer while the pipeline runs',
      )
      assert.ok(
        firstRollAfter !== undefined && firstRollAfter >= 250,
        `rolled after ${firstRollAfter} ms, not before the interval`,
      )
    } finally {
      stop.abort()
      await running
    }
    assert.deepEqual(await readTable(table), input)
  })

  test('a crash with batches in the spool: they are committed for the runtime, not replayed, and roll after the restart', async () => {
    const dir = await tempDir()
    const table = join(dir, 't')
    const input = clickstream(2000, 54)
    const spec = lake<Row>({ path: table, partitionBy: ['platform'], rollInterval: '1h' })
    const build = (sink: SinkSpec<Row>) =>
      pipeline('spool-crash').from(memorySource<Row>('e', input)).to(sink)
    const options = {
      checkpoint: join(dir, 'ckpt'),
      trigger: { kind: 'availableNow' as const },
      maxBatchRecords: 200,
    }
    await assert.rejects(
      run(build(dyingAt(spec, 6, { close: false })), options),
      /died before committing batch 6/,
    )
    // Batches 0–5 wait in the spool (no roll: the process died); batch 6 spooled rows but has no marker.
    assert.equal((await logEntries(table)).length, 0)
    const staged = await listAll(table)
    assert.equal(staged.filter((f) => f.includes('/pending/')).length, 6)
    assert.ok(staged.some((f) => f.includes('/spool/6/')))

    const summary = await run(build(spec), options)
    assert.equal(summary.batches, 4, 'batches 6–9 ran; 0–5 were committed')
    const entries = await logEntries(table)
    assert.equal(entries.length, 1)
    assert.deepEqual(sortRows(await readTable(table)), sortRows(input))
    assert.deepEqual(
      (await listAll(table)).filter((f) => f.startsWith('.sluice-staging/')),
      [],
    )
  })

  test('spooled batches of an earlier run roll first when the sink runs without rollInterval', async () => {
    const dir = await tempDir()
    const table = join(dir, 't')
    const input = clickstream(1000, 55)
    const build = (sink: SinkSpec<Row>) => pipeline('switch').from(memorySource<Row>('e', input)).to(sink)
    const options = {
      checkpoint: join(dir, 'ckpt'),
      trigger: { kind: 'availableNow' as const },
      maxBatchRecords: 200,
    }
    await assert.rejects(
      run(
        build(dyingAt(lake<Row>({ path: table, format: 'jsonl', rollInterval: '1h' }), 3, { close: false })),
        options,
      ),
      /died/,
    )
    await run(build(lake<Row>({ path: table, format: 'jsonl' })), options)
    const entries = await logEntries(table)
    assert.deepEqual(
      entries.map((e) => [e.firstBatchId ?? e.batchId, e.batchId]),
      [
        [0, 2],
        [3, 3],
        [4, 4],
      ],
    )
    assert.deepEqual(await readTable(table), input)
  })

  test('rollInterval is checked', () => {
    assert.throws(() => lake({ path: 'x', rollInterval: '5 parsecs' }), /rollInterval/)
    assert.throws(() => lake({ path: 'x', rollInterval: 0 }), /rollInterval/)
  })
})
