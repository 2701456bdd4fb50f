import assert from 'node:assert/strict'
import { test } from 'node:test'
import { count } from '../../src/aggregate/index.ts'
import { memory } from '../../src/connectors/testing/memory.ts'
import { memorySource } from '../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../src/dsl/stream.ts'
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
