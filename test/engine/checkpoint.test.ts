import assert from 'node:assert/strict'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { z } from 'zod'
import { count, sum } from '../../src/aggregate/index.ts'
import { CheckpointIncompatibleError } from '../../src/checkpoint/errors.ts'
import { foreachBatch } from '../../src/connectors/testing/foreach-batch.ts'
import { memory } from '../../src/connectors/testing/memory.ts'
import { memorySource } from '../../src/connectors/testing/memory-source.ts'
import { type Pipeline, pipeline } from '../../src/dsl/stream.ts'
import { run } from '../../src/runtime/run.ts'
import type { SinkContract, SinkSpec } from '../../src/runtime/sink.ts'
import { tumbling } from '../../src/window/index.ts'

const dirs: string[] = []
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-ckpt-unit-'))
  dirs.push(dir)
  return dir
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

const T0 = Date.parse('2026-11-25T10:00:00Z')
const Row = z.object({ k: z.string(), t: z.number(), n: z.number() })
const rows = Array.from({ length: 1000 }, (_, i) => ({
  value: { k: `k${i % 5}`, t: T0 + i * 1000, n: i },
  partition: `p${i % 2}`,
}))

function windowed(size: string, agg: 'count' | 'sum', sink: SinkSpec<unknown> = memory()) {
  return pipeline('ckpt')
    .from(memorySource('rows', rows))
    .parse(Row)
    .withWatermark('t', '0s')
    .keyBy((r) => r.k)
    .window(tumbling(size))
    .aggregate(agg === 'count' ? count() : sum((r: z.infer<typeof Row>) => r.n))
    .to(sink)
}

/**
 * Runs the windowed count into `sink` until it fails with `failure`, then again from the same checkpoint; returns
 * the rows an uninterrupted run gives, to compare what the sink committed with.
 */
async function failThenResume(sink: SinkSpec<unknown>, failure: RegExp): Promise<readonly unknown[]> {
  const straight = memory()
  const options = { trigger: { kind: 'availableNow' }, maxBatchRecords: 100 } as const
  await run(windowed('1m', 'count', straight), { ...options, checkpoint: await tempDir() })
  const checkpoint = await tempDir()
  await assert.rejects(run(windowed('1m', 'count', sink), { ...options, checkpoint }), failure)
  await run(windowed('1m', 'count', sink), { ...options, checkpoint })
  assert.ok(straight.rows.length > 10)
  return straight.rows
}

describe('checkpoints', () => {
  test('a run stopped after a few batches and restarted gives the same output as one uninterrupted run', async () => {
    const straight = memory()
    await run(windowed('1m', 'count', straight), {
      checkpoint: await tempDir(),
      trigger: { kind: 'availableNow' },
      maxBatchRecords: 70,
    })
    const resumed = memory()
    const checkpoint = await tempDir()
    for (let i = 0; i < 4; i++) {
      await run(windowed('1m', 'count', resumed), {
        checkpoint,
        trigger: { kind: 'availableNow' },
        maxBatchRecords: 70,
        maxBatches: 3,
      })
    }
    await run(windowed('1m', 'count', resumed), {
      checkpoint,
      trigger: { kind: 'availableNow' },
      maxBatchRecords: 70,
    })
    assert.ok(straight.rows.length > 0)
    assert.deepEqual(resumed.rows, straight.rows)
    const commits = await readdir(join(checkpoint, 'commits'))
    assert.ok(commits.length > 10, 'the resumed run went through many batches')
  })

  test('changing a stateful step against an old checkpoint fails with every difference named', async () => {
    const checkpoint = await tempDir()
    await run(windowed('1m', 'count'), { checkpoint, trigger: { kind: 'once' } })
    await assert.rejects(
      run(windowed('5m', 'sum'), { checkpoint, trigger: { kind: 'once' } }),
      (error: unknown) => {
        assert.ok(error instanceof CheckpointIncompatibleError)
        assert.equal(error.exitCode, 2)
        assert.match(
          error.message,
          /step "window" \(window\): window changed from .*"size":60000.* to .*"size":300000/,
        )
        assert.match(error.message, /step "window" \(window\): aggregate changed from "count" to "sum"/)
        return true
      },
    )
    // A stateless change is fine.
    const withMap = pipeline('ckpt')
      .from(memorySource('rows', rows))
      .parse(Row)
      .withWatermark('t', '0s')
      .keyBy((r) => r.k)
      .window(tumbling('1m'))
      .aggregate(count())
      .to(memory())
    await run(withMap, { checkpoint, trigger: { kind: 'once' } })
  })

  test('at-least-once sinks see a failed batch again with the same id and rows', async () => {
    const seen: { batchId: number; rows: number }[] = []
    let fail = true
    const flaky = foreachBatch<unknown>((batch) => {
      seen.push({ batchId: batch.batchId, rows: batch.rows.length })
      if (fail && batch.batchId === 2) {
        fail = false
        throw new Error('sink down')
      }
    })
    const p = pipeline('flaky').from(memorySource('rows', rows)).parse(Row).to(flaky)
    const checkpoint = await tempDir()
    await assert.rejects(
      run(p, { checkpoint, trigger: { kind: 'availableNow' }, maxBatchRecords: 100 }),
      /sink down/,
    )
    await run(p, { checkpoint, trigger: { kind: 'availableNow' }, maxBatchRecords: 100 })
    assert.deepEqual(
      seen.map((s) => s.batchId),
      [0, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9],
    )
    assert.equal(seen[2]?.rows, seen[3]?.rows)
    assert.equal(
      seen.filter((_, i) => i !== 2).reduce((n, s) => n + s.rows, 0),
      rows.length,
    )
  })

  for (const failing of [0, 3])
    test(`a stateful batch ${failing} whose sink failed is replayed from the state before it`, async () => {
      const committed: unknown[] = []
      let fail = true
      const flaky = foreachBatch<unknown>((batch) => {
        if (fail && batch.batchId === failing) {
          fail = false
          throw new Error('sink down')
        }
        committed.push(...batch.rows)
      })
      const straight = await failThenResume(flaky, /sink down/)
      assert.deepEqual(committed, straight)
    })

  test('a batch the sink committed just before the process died (state not saved) is rebuilt, not written again', async () => {
    // An exactly-once sink in memory: it keeps rows per committed batch id and answers hasCommitted from them.
    const contract: SinkContract = {
      guarantee: 'exactly-once',
      storesPositions: true,
      commitsSourceOffsets: false,
      storesDeadLetters: false,
    }
    const committed = new Map<number, unknown[]>()
    const writes: number[] = []
    let dieAfterCommitOf: number | undefined = 4
    const sink: SinkSpec<unknown> = {
      type: 'test',
      options: {},
      create: () => ({
        description: 'exactly-once test sink',
        async open() {
          return contract
        },
        async write(batch) {
          writes.push(batch.batchId)
        },
        async commit(batch) {
          committed.set(batch.batchId, [...batch.rows])
          if (batch.batchId === dieAfterCommitOf) {
            dieAfterCommitOf = undefined
            throw new Error('process died after the sink committed') // before the state commit
          }
        },
        async hasCommitted(batch) {
          return committed.has(batch.batchId)
        },
        async close() {},
      }),
    }
    const straight = await failThenResume(sink, /process died/)
    assert.equal(writes.filter((id) => id === 4).length, 1, 'batch 4 was written once, then only rebuilt')
    const rows = [...committed.entries()].sort(([a], [b]) => a - b).flatMap(([, r]) => r)
    assert.deepEqual(rows, straight)
  })

  test('old batches are pruned: stateless, and stateful up to the batches after the saved state', async () => {
    const stateless: Pipeline<unknown> = pipeline('prune')
      .from(memorySource('rows', rows))
      .parse(Row)
      .to(memory())
    for (const [name, p, stateCommitIntervalMs] of [
      ['stateless', stateless, 0],
      ['stateful, state every batch', windowed('1m', 'count') as Pipeline<unknown>, 0],
      ['stateful, state at the end only', windowed('1m', 'count') as Pipeline<unknown>, 3_600_000],
    ] as const) {
      const checkpoint = await tempDir()
      await run(p, {
        checkpoint,
        trigger: { kind: 'availableNow' },
        maxBatchRecords: 10,
        stateCommitIntervalMs,
      })
      const markers = (await readdir(join(checkpoint, 'commits'))).length
      if (stateCommitIntervalMs > 0)
        assert.ok(
          markers >= 100,
          `${name}: ${markers} commit markers kept, all 100 batches expected (a rebuild needs them)`,
        )
      else assert.ok(markers <= 31, `${name}: ${markers} commit markers kept, at most 31 expected`)
    }
  })
})
