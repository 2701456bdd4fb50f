import assert from 'node:assert/strict'
import { test } from 'node:test'
import { count } from '../../src/aggregate/index.ts'
import { memory } from '../../src/connectors/testing/memory.ts'
import { memorySource } from '../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import type { BatchProgress } from '../../src/runtime/progress.ts'
import type { DeadLetter } from '../../src/runtime/sink.ts'
import { DashboardState } from '../../src/ui/dashboard-state.ts'
import { tumbling } from '../../src/window/index.ts'

function letter(offset: number, raw: DeadLetter['raw'], reason = 'malformed JSON'): DeadLetter {
  return { reason, operator: 'parse-1', partition: 'events:0', offset, key: null, raw, timestamp: 0 }
}

test('dead letters: newest first, capped, with a cut preview and the byte size', () => {
  const state = new DashboardState({ deadLetters: 3 })
  const big = Buffer.from(`{"page":"${'x'.repeat(10_000)}"}`)
  const views = state.deadLetters(
    [letter(1, 'a'), letter(2, big), letter(3, Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), letter(4, null)],
    { pipelineId: 'p', batchId: 9 },
    Date.parse('2026-11-25T10:00:00Z'),
  )
  assert.deepEqual(
    views.map((v) => v.source),
    ['events:0@4', 'events:0@3', 'events:0@2'],
    'only as many as are kept, newest first',
  )
  const [none, invalid, cut] = views
  assert.equal(none?.preview, '')
  assert.equal(none?.bytes, 0)
  assert.equal(invalid?.preview, '{\ufffd\ufffd}', 'invalid UTF-8 shows as replacement characters')
  assert.equal(cut?.bytes, big.length)
  assert.equal(cut?.preview.length, 241)
  assert.ok(cut?.preview.endsWith('…'))
  assert.equal(cut?.at, '2026-11-25T10:00:00.000Z')

  state.deadLetters([letter(5, 'b', 'late')], { pipelineId: 'p', batchId: 10 }, 0)
  const snapshot = state.snapshot()
  assert.deepEqual(
    snapshot.deadLetters.map((d) => d.source),
    ['events:0@5', 'events:0@4', 'events:0@3'],
  )
  assert.equal(snapshot.pipelines[0]?.deadLettersByOperator['parse-1'], 5, 'every letter is counted')
})

test('ticks: rates over the last seconds, gaps when there is nothing, a bounded history', () => {
  const state = new DashboardState({ ticks: 4 })
  const t0 = 1_000_000
  state.describe({ pipelineId: 'p', nodes: [] }, t0)
  assert.deepEqual(state.tick(t0 + 1000).points.p, {
    input: 0,
    output: 0,
    processed: null,
    p50: null,
    p99: null,
    lag: null,
    lagBytes: null,
    watermarkDelay: null,
  })
  for (let i = 0; i < 10; i++) state.tick(t0 + 2000 + i)
  assert.equal(state.snapshot().ticks.length, 4)
})

test('the operator graph shows the name of a named step before its details; derived ids stay in the title', () => {
  const state = new DashboardState()
  const p = pipeline('named')
    .from(memorySource<{ k: string; t: number }>('events'))
    .map((e) => e)
    .name('enrich')
    .withWatermark('t', '0s')
    .keyBy((e) => e.k)
    .window(tumbling('1m'))
    .name('per-minute')
    .aggregate(count())
    .to(memory())
  state.describe(p.plan, 0)
  assert.deepEqual(
    state.snapshot().pipelines[0]?.graph.map((n) => [n.id, n.label]),
    [
      ['source', 'memory events'],
      ['enrich', 'enrich'],
      ['watermark', 't − 0ms'],
      ['keyBy', ''],
      ['per-minute', 'per-minute · tumbling 1m · append'],
      ['sink', 'memory'],
    ],
  )
})

function progress(batchId: number, lag: number): BatchProgress {
  return {
    pipelineId: 'p',
    batchId,
    timestamp: new Date(1_000_000).toISOString(),
    inputRows: 100,
    inputRowsPerSecond: 100,
    processedRowsPerSecond: 1000,
    outputRows: 100,
    deadLetteredRows: 0,
    lateRows: 0,
    duplicateRows: 0,
    durationMs: { poll: 1, process: 2, checkpoint: 3, sink: 4, total: 10 },
    watermark: null,
    stateRows: 0,
    stateBytes: 0,
    sourceLag: { 'events:0': lag },
    sourceUnit: 'records',
    sourceRead: 100,
    replayed: false,
    latency: null,
  }
}

test('health: starting, catching up, running, restarting with the cause (credentials masked), failed', () => {
  const state = new DashboardState({ batches: 2 })
  const health = () => state.snapshot().pipelines[0]?.health
  state.describe({ pipelineId: 'p', nodes: [] }, 1_000_000)
  assert.equal(health()?.state, 'starting')
  // 50,000 records behind at 1,000 rows/s of processing: 50 s of work.
  state.observe(progress(0, 50_000), 1_000_000)
  assert.equal(health()?.state, 'catching up')
  state.observe(progress(1, 500), 1_000_000)
  assert.equal(health()?.state, 'running')
  state.restarting(
    'p',
    new Error('connect to postgres://etl:hunter2@db:5432/x failed, password=hunter2'),
    1_000_000,
  )
  assert.deepEqual(health(), {
    state: 'restarting',
    restarts: 1,
    lastError: {
      at: new Date(1_000_000).toISOString(),
      message: 'connect to postgres://etl:***@db:5432/x failed, password=***',
    },
  })
  state.observe(progress(2, 0), 1_000_000)
  assert.equal(health()?.state, 'running')
  assert.equal(health()?.restarts, 1)
  assert.deepEqual(
    state.snapshot().pipelines[0]?.batches.map((b) => b.batchId),
    [2, 1],
    'the last batches, newest first, as many as kept',
  )
  state.failed('p', new Error('schema mismatch'), 1_000_000)
  assert.equal(health()?.state, 'failed')
  assert.equal(health()?.lastError?.message, 'schema mismatch')
})

test('health: a batch of old records with no lag left is running, not catching up', () => {
  const state = new DashboardState({ batches: 2 })
  state.describe({ pipelineId: 'p', nodes: [] }, 1_000_000)
  const latency = {
    count: 100,
    sumMs: 48_000_000,
    p50Ms: 480_000,
    p99Ms: 490_000,
    maxMs: 500_000,
    buckets: [],
  }
  // The last batch of a backlog: its records were 8 minutes old, and nothing is left to read.
  state.observe({ ...progress(0, 0), latency }, 1_000_000)
  assert.equal(state.snapshot().pipelines[0]?.health.state, 'running')
  // The same latency with records still to read (and an unknown lag) is catching up.
  state.observe({ ...progress(1, 50), latency }, 1_000_000)
  assert.equal(state.snapshot().pipelines[0]?.health.state, 'catching up')
})
