import assert from 'node:assert/strict'
import { test } from 'node:test'
import { count } from '../../src/aggregate/index.ts'
import { memory } from '../../src/connectors/testing/memory.ts'
import { memorySource } from '../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { BatchProcessor } from '../../src/runtime/processor.ts'
import type { SourceRecord } from '../../src/runtime/source.ts'
import { type TapRecord, Taps } from '../../src/runtime/tap.ts'
import { tumbling } from '../../src/window/index.ts'

/** The live tap (issue 15, item 6): an operator's output, sampled and bounded, opened and closed while running. */

interface Click {
  readonly user: string
  readonly t: number
  readonly note: string
}

const clicks = pipeline('tapped')
  .from(memorySource<Click>('clicks'))
  .map((c) => ({ ...c, user: c.user.toUpperCase() }))
  .name('shout')
  .withWatermark('t', '0s')
  .keyBy((c) => c.user)
  .window(tumbling('1m'))
  .name('per-minute')
  .aggregate(count())
  .to(memory())

let offset = 0
function batch(batchId: number, users: readonly string[], t: number, note = 'x') {
  const records: SourceRecord[] = users.map((user) => ({
    partition: 'clicks:0',
    offset: offset++,
    key: null,
    value: { user, t, note },
    timestamp: t,
  }))
  return { batchId, records, watermark: t - 60_000, batchTime: t }
}

test('a tapped operator shows what it emitted, at most perSecond records a second, each cut to maxChars', () => {
  const taps = new Taps({ perSecond: 5, maxChars: 40 })
  const processor = new BatchProcessor(clicks.plan, { taps })
  const seen: TapRecord[] = []
  const close = taps.open('tapped', 'shout', (records) => seen.push(...records))
  const now = Date.parse('2026-01-01T00:00:00Z')
  processor.process(batch(0, ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'], now, 'y'.repeat(100)), now)
  assert.equal(seen.length, 5, 'five of the eight records: the second’s allowance')
  for (const r of seen) {
    assert.match(r.preview, /^\{"user":"[A-H]","t":\d+,"note":"y+…$/, 'the map’s output, upper-cased, cut')
    assert.equal(r.preview.length, 41)
    assert.ok(r.chars > 100)
    assert.match(r.source, /^clicks:0@\d+$/)
  }
  // The same second again: nothing left to sample.
  processor.process(batch(1, ['i', 'j'], now), now)
  assert.equal(seen.length, 5)
  // Half a second later: half a second's worth.
  processor.process(batch(2, ['k', 'l', 'm', 'n', 'o'], now), now + 500)
  assert.equal(seen.length, 7)
  close()
  processor.process(batch(3, ['p', 'q'], now), now + 5000)
  assert.equal(seen.length, 7, 'closed: no more records')
})

test('opening and closing taps between batches keeps the operators’ state and output unchanged', () => {
  const t0 = Date.parse('2026-01-01T00:00:00Z')
  const users = ['a', 'b', 'a', 'c', 'a', 'b']
  const runAll = (taps: Taps | undefined, between: (i: number) => void) => {
    const processor = new BatchProcessor(clicks.plan, taps ? { taps } : {})
    const rows: unknown[] = []
    for (let i = 0; i < 6; i++) {
      between(i)
      // Every batch in the same minute; the last one's watermark closes it.
      const input = batch(i, users, t0 + i * 1000)
      rows.push(
        ...processor.process(i === 5 ? { ...input, watermark: t0 + 120_000 } : input, t0 + i * 1000).rows,
      )
    }
    return rows
  }
  const plain = runAll(undefined, () => {})
  assert.ok(plain.length > 0)
  const taps = new Taps({ perSecond: 1000 })
  const windows: TapRecord[] = []
  const sinks: TapRecord[] = []
  let closeWindow = () => {}
  const tapped = runAll(taps, (i) => {
    if (i === 1) closeWindow = taps.open('tapped', 'per-minute', (r) => windows.push(...r))
    if (i === 3) closeWindow()
    if (i === 4) taps.open('tapped', 'sink', (r) => sinks.push(...r))
  })
  assert.deepEqual(tapped, plain, 'the same rows with taps opened and closed meanwhile')
  assert.equal(windows.length, 0, 'the window emitted nothing while tapped (its minute was open)')
  assert.deepEqual(
    sinks.map((r) => JSON.parse(r.preview).count).sort(),
    plain.map((r) => (r as { count: number }).count).sort(),
    'the sink’s tap shows the rows written',
  )
})

test('the source’s tap shows raw records, decoded only as far as shown', () => {
  const taps = new Taps({ perSecond: 10, maxChars: 8 })
  const raw = pipeline('raw').from(memorySource<unknown>('bytes')).to(memory())
  const processor = new BatchProcessor(raw.plan, { taps })
  const seen: TapRecord[] = []
  taps.open('raw', 'source', (r) => seen.push(...r))
  const big = Buffer.from(`{"page":"${'p'.repeat(1_000_000)}"}`)
  processor.process(
    {
      batchId: 0,
      records: [{ partition: 'bytes:0', offset: 7, key: 'k1', value: big, timestamp: 0 }],
      watermark: 0,
      batchTime: 0,
    },
    0,
  )
  assert.deepEqual(seen, [
    { at: 0, batchId: 0, source: 'bytes:0@7', key: 'k1', preview: '{"page":…', chars: big.length },
  ])
})

test('a tap opened before the processor is created (a restart while someone watches) samples at once', () => {
  const taps = new Taps()
  const seen: TapRecord[] = []
  taps.open('tapped', 'shout', (r) => seen.push(...r))
  const processor = new BatchProcessor(clicks.plan, { taps })
  const now = Date.parse('2026-01-01T00:00:00Z')
  processor.process(batch(0, ['a', 'b'], now), now)
  assert.deepEqual(seen.map((r) => JSON.parse(r.preview).user).sort(), ['A', 'B'])
})

test('records sampled elsewhere (a supervisor’s workers) merge into an open tap within its bound, and observers see it open and close', () => {
  const taps = new Taps({ perSecond: 4 })
  const changes: string[] = []
  taps.observe({
    opened: (t) => changes.push(`opened ${t.pipelineId}/${t.operatorId}`),
    closed: (t) => changes.push(`closed ${t.pipelineId}/${t.operatorId}`),
  })
  const seen: TapRecord[] = []
  const late: TapRecord[] = []
  const close = taps.open('tapped', 'shout', (r) => seen.push(...r))
  const closeLate = taps.open('tapped', 'shout', (r) => late.push(...r))
  assert.deepEqual(taps.opened, [{ pipelineId: 'tapped', operatorId: 'shout' }])
  const sampled = (from: number, count: number, instance: string): TapRecord[] =>
    Array.from({ length: count }, (_, i) => ({
      at: 0,
      batchId: 0,
      source: `clicks:0@${from + i}`,
      key: null,
      preview: String(from + i),
      chars: 1,
      instance,
    }))
  const now = Date.parse('2026-01-01T00:00:00Z')
  const w0 = sampled(0, 10, 'w0')
  taps.merge({ pipelineId: 'tapped', operatorId: 'shout' }, w0, now)
  assert.equal(seen.length, 4, 'four of the ten: the second’s allowance')
  assert.ok(
    seen.every((r) => w0.includes(r)),
    'records as the worker sampled them, labels kept',
  )
  taps.merge({ pipelineId: 'tapped', operatorId: 'shout' }, sampled(10, 3, 'w1'), now)
  assert.equal(seen.length, 4, 'the same second: none')
  taps.merge({ pipelineId: 'tapped', operatorId: 'shout' }, sampled(20, 3, 'w1'), now + 500)
  assert.equal(seen.length, 6, 'half a second later: half a second’s worth')
  assert.deepEqual(late, seen, 'every watcher gets them')
  taps.merge({ pipelineId: 'tapped', operatorId: 'other' }, sampled(30, 3, 'w1'), now + 5000)
  close()
  assert.deepEqual(changes, ['opened tapped/shout'], 'open while one watcher remains')
  closeLate()
  assert.deepEqual(changes, ['opened tapped/shout', 'closed tapped/shout'])
  assert.deepEqual(taps.opened, [])
  taps.merge({ pipelineId: 'tapped', operatorId: 'shout' }, sampled(40, 3, 'w0'), now + 5000)
  assert.equal(seen.length, 6, 'closed: records that arrive late are dropped')
})

test('a tap’s share below one record a second (a supervisor’s rate split over many workers) still samples', () => {
  const taps = new Taps()
  const seen: TapRecord[] = []
  taps.open('tapped', 'shout', (r) => seen.push(...r), { perSecond: 0.5 })
  const processor = new BatchProcessor(clicks.plan, { taps })
  const now = Date.parse('2026-01-01T00:00:00Z')
  processor.process(batch(0, ['a', 'b', 'c'], now), now)
  assert.equal(seen.length, 1, 'one record: the bucket holds at least one')
  processor.process(batch(1, ['d', 'e'], now), now + 1000)
  assert.equal(seen.length, 1, 'half a record a second: nothing a second later')
  processor.process(batch(2, ['f', 'g'], now), now + 2000)
  assert.equal(seen.length, 2, 'one more two seconds later')
})
