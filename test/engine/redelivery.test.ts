import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { memory } from '../../src/connectors/testing/memory.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { run } from '../../src/runtime/run.ts'
import type { SourceRecord, SourceSpec } from '../../src/runtime/source.ts'

/**
 * A source that hands out records the run already processed: a Kafka consumer does after its group rebalances
 * (it goes on from the group's committed offset, which may be behind the run's own position when a progress
 * commit was skipped). Here the second poll starts five records back.
 */
function redelivering(total: number, rewind: number): SourceSpec<{ n: number }> {
  const record = (offset: number): SourceRecord => ({
    partition: 'p',
    offset,
    key: undefined,
    value: { n: offset },
    timestamp: 0,
  })
  return {
    type: 'redelivering',
    options: { total, rewind },
    identity: { name: 'redelivering' },
    create: () => {
      let next = 0
      let polls = 0
      return {
        description: 'a source that hands out records again',
        bounded: true,
        async open() {},
        async poll() {
          if (next >= total) return []
          polls++
          const from = polls === 2 ? next - rewind : next
          const to = Math.min(total, from + 10)
          next = to
          return Array.from({ length: to - from }, (_, i) => record(from + i))
        },
        async endPositions() {
          return { p: total }
        },
        async close() {},
      }
    },
  }
}

test('records a source hands out again, below the position the run already committed, are not processed twice', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-redelivery-'))
  try {
    const sink = memory<{ n: number }>()
    await run(pipeline('redelivery').from(redelivering(25, 5)).to(sink), {
      checkpoint: dir,
      trigger: { kind: 'availableNow' },
    })
    assert.deepEqual(
      sink.rows.map((r) => r.n),
      Array.from({ length: 25 }, (_, i) => i),
    )
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
