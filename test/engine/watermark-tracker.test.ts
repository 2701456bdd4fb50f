import assert from 'node:assert/strict'
import { test } from 'node:test'
import { WatermarkTracker } from '../../src/runtime/watermark-tracker.ts'

const T0 = Date.parse('2026-11-25T10:00:00Z')

test('a quiet partition with unread records is behind, not idle; one caught up is idle', () => {
  // A backlog in two partitions, read in batches that each take longer than the 30 s idle timeout.
  const tracker = new WatermarkTracker(5_000, 30_000)
  tracker.observe('a', T0 - 300_000, T0)
  tracker.observe('b', T0 - 290_000, T0)
  const now = T0 + 70_000 // the batch took 70 s to process and commit
  assert.deepEqual(tracker.idleCandidates(now).sort(), ['a', 'b'])
  assert.equal(
    tracker.advance(now, undefined, new Set(['a', 'b'])),
    T0 - 300_000 - 5_000,
    'the source still has records of both: the slowest partition holds the watermark',
  )
  assert.equal(
    tracker.advance(now, undefined, new Set(['b'])),
    T0 - 290_000 - 5_000,
    'a is caught up and quiet: idle',
  )
  // Without the source's word (before the fix: clock only), both looked idle and the watermark followed the
  // clock, making the rest of the backlog late.
  const clockOnly = new WatermarkTracker(5_000, 30_000)
  clockOnly.observe('a', T0 - 300_000, T0)
  clockOnly.observe('b', T0 - 290_000, T0)
  assert.equal(clockOnly.advance(now), now - 30_000 - 5_000)
})

test('no idle timeout: nothing is ever a candidate, and the source is never asked', () => {
  const tracker = new WatermarkTracker(0, undefined)
  tracker.observe('a', T0, T0)
  assert.deepEqual(tracker.idleCandidates(T0 + 3_600_000, new Set(['b'])), [])
})

test('the end of a bounded input moves the watermark to +Infinity, for good', () => {
  const tracker = new WatermarkTracker(5_000, undefined)
  tracker.observe('a', T0, T0)
  assert.equal(tracker.endOfInput(), Number.POSITIVE_INFINITY)
  assert.equal(tracker.advance(T0), Number.POSITIVE_INFINITY)
})
