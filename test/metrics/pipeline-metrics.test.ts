import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { z } from 'zod'
import { count } from '../../src/aggregate/index.ts'
import { memory } from '../../src/connectors/testing/memory.ts'
import { memorySource } from '../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { PipelineMetrics } from '../../src/metrics/pipeline-metrics.ts'
import { batchLatency, LATENCY_BUCKETS_MS } from '../../src/runtime/latency.ts'
import type { BatchProgress } from '../../src/runtime/progress.ts'
import { run } from '../../src/runtime/run.ts'
import { AT_LEAST_ONCE, type DeadLetter } from '../../src/runtime/sink.ts'
import type { SourceRecord } from '../../src/runtime/source.ts'
import { tumbling } from '../../src/window/index.ts'

const dirs: string[] = []
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true })
})

/** The value of one sample line of the Prometheus text format, e.g. `sluice_input_rows_total{pipeline="a"}`. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1))
  }
  return undefined
}

function progress(overrides: Partial<BatchProgress> = {}): BatchProgress {
  return {
    pipelineId: 'clicks',
    batchId: 0,
    timestamp: '2026-11-25T10:00:10.000Z',
    inputRows: 100,
    inputRowsPerSecond: 90,
    processedRowsPerSecond: 2000,
    outputRows: 40,
    deadLetteredRows: 3,
    lateRows: 2,
    duplicateRows: 1,
    durationMs: { poll: 20, process: 12, checkpoint: 5, sink: 8, total: 45 },
    watermark: '2026-11-25T10:00:04.000Z',
    stateRows: 7,
    stateBytes: 4096,
    sourceLag: { 'events:0': 10, 'events:1': 5 },
    sourceUnit: 'records',
    sourceRead: 100,
    replayed: false,
    latency: null,
    ...overrides,
  }
}

function records(timestamps: readonly number[]): SourceRecord[] {
  return timestamps.map((timestamp, offset) => ({ partition: 'p', offset, key: null, value: 'x', timestamp }))
}

describe('batchLatency', () => {
  test('buckets every record, sums, and takes percentiles and the maximum', () => {
    const now = 1_000_000
    // 98 records 20 ms old, one 400 ms, one 70 s (above the 60 s bound, in the 300 s bucket).
    const ages = [...new Array<number>(98).fill(20), 400, 70_000]
    const latency = batchLatency(records(ages.map((a) => now - a)), now)
    assert.ok(latency)
    assert.equal(latency.count, 100)
    assert.equal(latency.sumMs, 98 * 20 + 400 + 70_000)
    assert.equal(latency.maxMs, 70_000)
    assert.equal(latency.p50Ms, 20)
    assert.equal(latency.p99Ms, 70_000)
    assert.equal(latency.buckets.length, LATENCY_BUCKETS_MS.length + 1)
    assert.equal(latency.buckets[LATENCY_BUCKETS_MS.indexOf(25)], 98)
    assert.equal(latency.buckets[LATENCY_BUCKETS_MS.indexOf(500)], 1)
    assert.equal(latency.buckets[LATENCY_BUCKETS_MS.indexOf(300_000)], 1)
    assert.equal(
      latency.buckets.reduce((a, b) => a + b, 0),
      100,
    )
  })

  test('an empty batch has no latency; clocks ahead of ours count as zero; above every bound is the last bucket', () => {
    assert.equal(batchLatency([], 5), null)
    const latency = batchLatency(records([2_000, 1_000 - 600_000]), 1_000)
    assert.ok(latency)
    assert.equal(latency.buckets[0], 1, 'a timestamp in the future is 0 ms')
    assert.equal(latency.buckets.at(-1), 1, '600 s is above the 300 s bound')
    assert.equal(latency.maxMs, 600_000)
  })
})

describe('PipelineMetrics', () => {
  test('counters, gauges and histograms after progress events, in the Prometheus text format', async () => {
    const metrics = new PipelineMetrics({ processMetrics: false })
    const plan = pipeline('clicks').from(memorySource('clicks')).to(memory())
    metrics.describe(plan.plan)
    const before = await metrics.registry.metrics()
    assert.equal(sample(before, 'sluice_input_rows_total{pipeline="clicks"}'), 0, 'counters exist at zero')
    assert.equal(sample(before, 'sluice_sink_errors_total{pipeline="clicks",sink="memory"}'), 0)

    const now = Date.parse('2026-11-25T10:00:10.000Z')
    const latency = batchLatency(records([now - 20, now - 20, now - 300, now - 1500]), now)
    metrics.observe(progress({ latency }))
    metrics.observe(
      progress({
        batchId: 1,
        inputRows: 50,
        outputRows: 10,
        replayed: true,
        sourceLag: { 'events:1': 2 },
        watermark: '2026-11-25T10:00:08.500Z',
        timestamp: '2026-11-25T10:00:11.000Z',
        durationMs: { poll: 1, process: 2, checkpoint: 3, sink: 4, total: 10 },
      }),
    )
    metrics.sinkError('clicks')
    const text = await metrics.registry.metrics()
    const p = '{pipeline="clicks"}'
    assert.equal(sample(text, `sluice_batches_total${p}`), 2)
    assert.equal(sample(text, `sluice_replayed_batches_total${p}`), 1)
    assert.equal(sample(text, `sluice_input_rows_total${p}`), 150)
    assert.equal(sample(text, 'sluice_output_rows_total{pipeline="clicks",sink="memory"}'), 50)
    assert.equal(sample(text, `sluice_dead_lettered_rows_total${p}`), 6)
    assert.equal(sample(text, `sluice_late_rows_total${p}`), 4)
    assert.equal(sample(text, `sluice_duplicate_rows_total${p}`), 2)
    assert.equal(sample(text, 'sluice_sink_errors_total{pipeline="clicks",sink="memory"}'), 1)
    assert.equal(sample(text, `sluice_input_rows_per_second${p}`), 90)
    assert.equal(sample(text, `sluice_state_rows${p}`), 7)
    assert.equal(sample(text, `sluice_state_bytes${p}`), 4096)
    // Watermark 10:00:08.5 at 10:00:11: 2.5 s behind.
    assert.equal(sample(text, `sluice_watermark_delay_seconds${p}`), 2.5)
    assert.equal(sample(text, `sluice_watermark_seconds${p}`), Date.parse('2026-11-25T10:00:08.500Z') / 1000)
    // Lag: the partition no longer reported is gone, not stale.
    assert.equal(sample(text, 'sluice_consumer_lag_records{pipeline="clicks",partition="events:1"}'), 2)
    assert.equal(
      sample(text, 'sluice_consumer_lag_records{pipeline="clicks",partition="events:0"}'),
      undefined,
    )
    // Batch durations: two observations per phase; the sink's 8 ms and 4 ms both fall in le=0.01.
    assert.equal(sample(text, 'sluice_batch_duration_seconds_count{pipeline="clicks",phase="sink"}'), 2)
    assert.equal(
      sample(text, 'sluice_batch_duration_seconds_bucket{le="0.01",pipeline="clicks",phase="sink"}'),
      2,
    )
    assert.equal(
      sample(text, 'sluice_batch_duration_seconds_bucket{le="0.005",pipeline="clicks",phase="sink"}'),
      1,
    )
    // Latency: 4 records (20, 20, 300, 1500 ms) from the first batch, the second had none.
    assert.match(text, /# TYPE sluice_end_to_end_latency_seconds histogram/)
    const bucket = (le: string) =>
      sample(text, `sluice_end_to_end_latency_seconds_bucket{pipeline="clicks",le="${le}"}`)
    assert.equal(bucket('0.01'), 0)
    assert.equal(bucket('0.025'), 2)
    assert.equal(bucket('0.25'), 2)
    assert.equal(bucket('0.5'), 3)
    assert.equal(bucket('2.5'), 4)
    assert.equal(bucket('+Inf'), 4)
    assert.equal(sample(text, `sluice_end_to_end_latency_seconds_count${p}`), 4)
    assert.equal(sample(text, `sluice_end_to_end_latency_seconds_sum${p}`), 1.84)
  })

  test('process metrics are there by default', async () => {
    const metrics = new PipelineMetrics()
    const text = await metrics.registry.metrics()
    assert.match(text, /^process_cpu_seconds_total /m)
    assert.match(text, /^nodejs_heap_size_used_bytes /m)
  })

  test('a real run: progress carries latency, dead letters reach the hook after commit, metrics add up', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-metrics-'))
    dirs.push(dir)
    const Click = z.object({ user: z.string(), at: z.string() })
    const now = Date.now()
    const input = [
      { value: '{"user":"a","at":"2026-11-25T10:00:01Z"}', timestamp: now - 100 },
      { value: '{"user":"a",', timestamp: now - 100 },
      { value: '{"user":"b","at":"2026-11-25T10:00:02Z"}', timestamp: now - 100 },
      { value: '{"user":7,"at":"2026-11-25T10:00:02Z"}', timestamp: now - 100 },
    ]
    const sink = memory()
    const p = pipeline('clicks')
      .from(memorySource('clicks', input))
      .parse(Click, { schemaName: 'Click' })
      .withWatermark('at', '0s')
      .keyBy((c) => c.user)
      .window(tumbling('1m'))
      .aggregate(count(), { outputMode: 'update' })
      .to(sink)
    const metrics = new PipelineMetrics({ processMetrics: false })
    metrics.describe(p.plan)
    const seen: BatchProgress[] = []
    const letters: DeadLetter[] = []
    let committedWhenLettersArrived = -1
    await run(p, {
      checkpoint: dir,
      trigger: { kind: 'availableNow' },
      onProgress: (e) => {
        seen.push(e)
        metrics.observe(e)
      },
      onDeadLetters: (deadLetters, batch) => {
        assert.equal(batch.pipelineId, 'clicks')
        committedWhenLettersArrived = sink.batches.length
        letters.push(...deadLetters)
      },
    })
    assert.ok(seen.length >= 1)
    const first = seen[0]!
    assert.ok(first.latency, 'a batch with records has a latency')
    assert.equal(first.latency.count, 4)
    assert.ok(first.latency.p50Ms >= 100 && first.latency.p50Ms < 60_000, String(first.latency.p50Ms))
    assert.equal(letters.length, 2)
    assert.deepEqual(
      letters.map((d) => [d.operator, d.offset]),
      [
        ['parse', 1],
        ['parse', 3],
      ],
    )
    assert.match(letters[0]!.reason, /malformed JSON/)
    assert.equal(committedWhenLettersArrived, 1, 'the hook runs after the sink committed the batch')
    const text = await metrics.registry.metrics()
    assert.equal(sample(text, 'sluice_input_rows_total{pipeline="clicks"}'), 4)
    assert.equal(sample(text, 'sluice_dead_lettered_rows_total{pipeline="clicks"}'), 2)
    assert.equal(sample(text, 'sluice_output_rows_total{pipeline="clicks",sink="memory"}'), sink.rows.length)
    assert.equal(sample(text, 'sluice_end_to_end_latency_seconds_count{pipeline="clicks"}'), 4)
  })

  test('a failing sink is reported through onSinkError before the run fails', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-metrics-'))
    dirs.push(dir)
    const failing = {
      type: 'failing',
      options: {},
      create: () => ({
        description: 'failing',
        async open() {
          return AT_LEAST_ONCE
        },
        async write() {
          throw new Error('disk full')
        },
        async commit() {},
        async close() {},
      }),
    }
    const p = pipeline('fails')
      .from(memorySource('x', ['a']))
      .to(failing)
    const metrics = new PipelineMetrics({ processMetrics: false })
    metrics.describe(p.plan)
    const errors: string[] = []
    await assert.rejects(
      run(p, {
        checkpoint: dir,
        trigger: { kind: 'availableNow' },
        onSinkError: (error, batch) => {
          errors.push(`${batch.pipelineId}/${batch.batchId}: ${(error as Error).message}`)
          metrics.sinkError(batch.pipelineId)
        },
      }),
      /disk full/,
    )
    assert.deepEqual(errors, ['fails/0: disk full'])
    const text = await metrics.registry.metrics()
    assert.equal(sample(text, 'sluice_sink_errors_total{pipeline="fails",sink="failing"}'), 1)
  })
})
