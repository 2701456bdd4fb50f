import assert from 'node:assert/strict'
import { test } from 'node:test'
import { WatermarkTracker } from '../../src/runtime/watermark-tracker.ts'

const T0 = Date.parse('2026-11-25T10:00:00Z')

test('time spent busy with a batch does not make partitions idle; time spent polling does', () => {
  // A backlog in two partitions, read in batches that each take longer than the 30 s idle timeout.
  const busy = new WatermarkTracker(5_000, 30_000)
  let now = T0
  busy.observe('a', T0 - 300_000, now)
  busy.observe('b', T0 - 290_000, now)
  now += 70_000 // the batch took 70 s to process and commit
  busy.excludeBusyTime(70_000)
  assert.equal(busy.advance(now), T0 - 300_000 - 5_000, 'the slowest partition still holds the watermark')

  // Without the busy time excluded (before the fix), both partitions looked idle for 70 s: the watermark
  // followed the clock and the rest of the backlog would have been late.
  const naive = new WatermarkTracker(5_000, 30_000)
  naive.observe('a', T0 - 300_000, T0)
  naive.observe('b', T0 - 290_000, T0)
  assert.equal(naive.advance(T0 + 70_000), T0 + 70_000 - 30_000 - 5_000)

  // A partition that stays quiet while the source is polled does go idle.
  now += 31_000
  busy.observe('b', T0 - 280_000, now - 1)
  assert.equal(busy.advance(now), T0 - 280_000 - 5_000, 'a is idle after 31 s of polling without records')
})
