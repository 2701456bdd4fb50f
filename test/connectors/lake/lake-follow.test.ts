import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { lake, lakeTable } from '../../../src/connectors/lake/index.ts'
import { memory } from '../../../src/connectors/testing/memory.ts'
import { memorySource } from '../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { run } from '../../../src/runtime/run.ts'
import { waitFor } from '../../helpers/wait.ts'
import { clickstream, type Row, tempDir } from './helpers.ts'

describe('lakeTable follow mode', () => {
  test('the same pipeline reads a table as a batch or follows new commits as a stream', async () => {
    const dir = await tempDir()
    const table = join(dir, 't')
    const first = clickstream(900, 31)
    const second = clickstream(700, 32)
    const write = (id: string, rows: Row[]) =>
      run(
        pipeline(id)
          .from(memorySource<Row>(id, rows))
          .to(lake<Row>({ path: table, format: 'jsonl', partitionBy: ['event_type'] })),
        { checkpoint: join(dir, `ckpt-${id}`), trigger: { kind: 'availableNow' }, maxBatchRecords: 300 },
      )
    // One pipeline definition, two ways to run it.
    const purchases = (follow: boolean, sink = memory<Row>()) => ({
      sink,
      pipeline: pipeline('purchases')
        .from(lakeTable<Row>({ path: table, follow, pollIntervalMs: 20 }))
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
    await write('w1', first)
    await waitFor(() => streaming.sink.rows.length === expected(first).length, 20_000, 'the rows')
    await write('w2', second)
    await waitFor(
      () => streaming.sink.rows.length === expected([...first, ...second]).length,
      20_000,
      'the rows',
    )
    stop.abort()
    await reading
    assert.deepEqual(streaming.sink.rows, expected([...first, ...second]))

    const batch = purchases(false)
    await run(batch.pipeline, { checkpoint: join(dir, 'ckpt-batch'), trigger: { kind: 'availableNow' } })
    assert.deepEqual(batch.sink.rows, streaming.sink.rows)
  })

  test('a follower started before the table exists waits for its first commit', async () => {
    const dir = await tempDir()
    const table = join(dir, 'later')
    const out = memory<Row>()
    const stop = new AbortController()
    const reading = run(
      pipeline('early')
        .from(lakeTable<Row>({ path: table, follow: true, pollIntervalMs: 20 }))
        .to(out),
      {
        checkpoint: join(dir, 'ckpt-r'),
        trigger: { kind: 'processingTime', intervalMs: 30 },
        signal: stop.signal,
      },
    )
    await new Promise((r) => setTimeout(r, 200))
    const rows = clickstream(50, 33)
    await run(
      pipeline('late-writer')
        .from(memorySource<Row>('x', rows))
        .to(lake<Row>({ path: table })),
      {
        checkpoint: join(dir, 'ckpt-w'),
        trigger: { kind: 'availableNow' },
      },
    )
    await waitFor(() => out.rows.length === rows.length, 20_000, 'the rows')
    stop.abort()
    await reading
    assert.deepEqual(out.rows, rows)
  })
})
