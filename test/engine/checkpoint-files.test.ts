import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { z } from 'zod'
import { count } from '../../src/aggregate/index.ts'
import { Checkpoint } from '../../src/checkpoint/checkpoint.ts'
import { memory } from '../../src/connectors/testing/memory.ts'
import { memorySource } from '../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { BatchProcessor } from '../../src/runtime/processor.ts'
import { tumbling } from '../../src/window/index.ts'

const Row = z.object({ k: z.string(), t: z.number() })
const stateless = pipeline('files-stateless').from(memorySource('s')).parse(Row).to(memory()).plan
const stateful = pipeline('files-stateful')
  .from(memorySource('s'))
  .parse(Row)
  .withWatermark('t', '0s')
  .keyBy((r) => r.k)
  .window(tumbling('1m'))
  .aggregate(count())
  .to(memory()).plan

const entry = (batchId: number) => ({
  batchId,
  start: { p: batchId * 10 },
  end: { p: batchId * 10 + 10 },
  watermark: null,
  batchTime: 1_000 + batchId,
})

async function withDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-ckpt-files-'))
  try {
    await run(dir)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

describe('checkpoint files per batch', () => {
  test('a stateless plan writes offsets and a commit marker only, and its state always counts as saved', () =>
    withDir(async (dir) => {
      const checkpoint = await Checkpoint.open(dir, stateless)
      await checkpoint.planBatch(entry(0))
      await checkpoint.saveState(0, new BatchProcessor(stateless).states, {})
      assert.equal(existsSync(join(dir, 'progress')), false)
      // Crash before the commit marker: batch 0 is pending, and a sink that committed it can be trusted.
      const recovery = await checkpoint.recover()
      assert.equal(recovery.pending?.batchId, 0)
      assert.equal(checkpoint.hasState(0), true)
      await checkpoint.commitBatch(0)
      assert.deepEqual(await readdir(join(dir, 'commits')), ['0.json'])
      assert.equal((await checkpoint.recover()).lastCommitted?.batchId, 0)
    }))

  test('a stateful plan has state for a batch only once saveState finished', () =>
    withDir(async (dir) => {
      const checkpoint = await Checkpoint.open(dir, stateful)
      const processor = new BatchProcessor(stateful)
      await checkpoint.planBatch(entry(0))
      assert.equal(checkpoint.hasState(0), false)
      await checkpoint.saveState(0, processor.states, { p: 5 })
      assert.equal(checkpoint.hasState(0), true)
      assert.deepEqual(await checkpoint.loadState(0, processor.states), { p: 5 })
    }))

  test('a lost commit marker (power cut) leaves the batch pending, with the previous one committed', () =>
    withDir(async (dir) => {
      const checkpoint = await Checkpoint.open(dir, stateless)
      await checkpoint.planBatch(entry(0))
      await checkpoint.commitBatch(0)
      await checkpoint.planBatch(entry(1))
      await checkpoint.commitBatch(1)
      await rm(join(dir, 'commits', '1.json'))
      const recovery = await checkpoint.recover()
      assert.equal(recovery.lastCommitted?.batchId, 0)
      assert.deepEqual(recovery.pending, entry(1))
    }))
})
