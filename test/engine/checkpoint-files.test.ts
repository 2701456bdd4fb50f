import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import {
  appendFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  truncate,
  writeFile,
} from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import { count } from '../../src/aggregate/index.ts'
import { Checkpoint } from '../../src/checkpoint/checkpoint.ts'
import { CheckpointCorruptError, CheckpointInUseError } from '../../src/checkpoint/errors.ts'
import { OffsetsLog } from '../../src/checkpoint/offsets-log.ts'
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
  test('a stateless plan writes offsets and a commit marker only, and has no state store', () =>
    withDir(async (dir) => {
      const checkpoint = await Checkpoint.open(dir, stateless)
      await checkpoint.planBatch(entry(0))
      checkpoint.saveState(0, new BatchProcessor(stateless).states, {})
      assert.equal(checkpoint.stateDatabase, undefined)
      assert.equal(existsSync(join(dir, 'state.db')), false)
      assert.equal(existsSync(join(dir, 'progress')), false)
      // Crash before the commit marker: batch 0 is pending, and only the sink can say whether it committed it.
      const recovery = await checkpoint.recover()
      assert.equal(recovery.pending?.batchId, 0)
      assert.equal(checkpoint.hasState(0), false)
      await checkpoint.commitBatch(0)
      assert.deepEqual(await readdir(join(dir, 'commits')), ['0.json'])
      assert.equal((await checkpoint.recover()).lastCommitted?.batchId, 0)
      checkpoint.close()
    }))

  test('a stateful plan has state for a batch only once saveState finished', () =>
    withDir(async (dir) => {
      const checkpoint = await Checkpoint.open(dir, stateful)
      const database = checkpoint.stateDatabase
      assert.ok(database)
      const processor = new BatchProcessor(stateful, { database })
      await checkpoint.planBatch(entry(0))
      assert.equal(checkpoint.hasState(0), false)
      checkpoint.saveState(0, processor.states, { p: 5 })
      assert.equal(checkpoint.hasState(0), true)
      assert.deepEqual(checkpoint.loadState(0, processor.states), { p: 5 })
      checkpoint.close()
    }))

  test('a checkpoint with JSON state files from an earlier version is refused with what to do', () =>
    withDir(async (dir) => {
      await mkdir(join(dir, 'state', 'window-1'), { recursive: true })
      await assert.rejects(Checkpoint.open(dir, stateful), (error: Error) => {
        assert.match(error.message, /JSON files \(state\/, progress\/\), written by an earlier Sluice/)
        assert.match(error.message, /new checkpoint location/)
        return true
      })
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
      checkpoint.close()
    }))

  test('a torn last frame of the offsets log (crash during the append) is dropped and cut off', () =>
    withDir(async (dir) => {
      const checkpoint = await Checkpoint.open(dir, stateless)
      await checkpoint.planBatch(entry(0))
      await checkpoint.commitBatch(0)
      const log = join(dir, 'offsets.log')
      const before = (await stat(log)).size
      await checkpoint.planBatch(entry(1))
      const after = (await stat(log)).size
      await truncate(log, after - 3) // the crash: batch 1's frame only partly on disk
      checkpoint.close() // the process is gone (its lock with it)
      const reopened = await Checkpoint.open(dir, stateless)
      assert.deepEqual(await reopened.recover(), { lastCommitted: entry(0), pending: undefined })
      assert.equal((await stat(log)).size, before, 'the torn tail is cut before the next append')
      await reopened.planBatch(entry(1))
      reopened.close()
      const again = await Checkpoint.open(dir, stateless)
      assert.deepEqual((await again.recover()).pending, entry(1))
      again.close()
    }))

  test('a last frame whose checksum does not match is dropped; garbage after it is never read', () =>
    withDir(async (dir) => {
      const checkpoint = await Checkpoint.open(dir, stateless)
      await checkpoint.planBatch(entry(0))
      await checkpoint.commitBatch(0)
      await checkpoint.planBatch(entry(1))
      const log = join(dir, 'offsets.log')
      const bytes = await readFile(log)
      bytes[bytes.length - 2] = bytes[bytes.length - 2]! ^ 0xff // a flipped byte in batch 1's payload
      await writeFile(log, bytes)
      await appendFile(log, Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9]))
      checkpoint.close()
      const reopened = await Checkpoint.open(dir, stateless)
      assert.deepEqual(await reopened.recover(), { lastCommitted: entry(0), pending: undefined })
      reopened.close()
    }))

  test('a checkpoint from before the log (offsets/N.json) resumes, and its next batches go to the log', () =>
    withDir(async (dir) => {
      ;(await Checkpoint.open(dir, stateless)).close() // metadata.json, as the old version also wrote it
      await rm(join(dir, 'offsets.log'))
      await mkdir(join(dir, 'offsets'), { recursive: true })
      for (const id of [0, 1])
        await writeFile(join(dir, 'offsets', `${id}.json`), `${JSON.stringify(entry(id))}\n`)
      await writeFile(join(dir, 'commits', '0.json'), '{"batchId":0}\n')
      const old = await Checkpoint.open(dir, stateless)
      assert.deepEqual(await old.recover(), { lastCommitted: entry(0), pending: entry(1) })
      await old.commitBatch(1)
      await old.planBatch(entry(2))
      assert.deepEqual(await old.recover(), { lastCommitted: entry(1), pending: entry(2) })
      assert.deepEqual(await readdir(join(dir, 'offsets')), ['0.json', '1.json'])
      old.close()
    }))

  test('an offsets log without the version 1 header is a corrupt checkpoint, not an empty one', () =>
    withDir(async (dir) => {
      ;(await Checkpoint.open(dir, stateless)).close()
      await writeFile(join(dir, 'offsets.log'), '{"batchId":0}\n')
      await assert.rejects(Checkpoint.open(dir, stateless), (error: unknown) => {
        assert.ok(error instanceof CheckpointCorruptError)
        assert.match(error.message, /SLOFFS01/)
        return true
      })
    }))

  test('a second run on the same checkpoint is refused at once; the lock goes with the process, even on SIGKILL', () =>
    withDir(async (dir) => {
      const inUse = (error: unknown) =>
        error instanceof CheckpointInUseError &&
        error.exitCode === 2 &&
        /in use by another run: is this pipeline already running/.test(error.message)
      const first = await Checkpoint.open(dir, stateless)
      await assert.rejects(Checkpoint.open(dir, stateful), inUse, 'another run in this process')
      first.close()
      const script = fileURLToPath(new URL('../fixtures/hold-checkpoint.ts', import.meta.url))
      const holder = spawn(process.execPath, [script, dir], { stdio: ['ignore', 'pipe', 'inherit'] })
      try {
        await once(holder.stdout, 'data')
        await assert.rejects(Checkpoint.open(dir, stateless), inUse, 'another process')
      } finally {
        holder.kill('SIGKILL')
        await once(holder, 'exit')
      }
      const after = await Checkpoint.open(dir, stateless)
      after.close()
    }))

  test('pruning rewrites the offsets log with the retained batches only once enough have accumulated', () =>
    withDir(async (dir) => {
      const path = join(dir, 'offsets.log')
      const log = await OffsetsLog.open<ReturnType<typeof entry>>(path)
      for (let id = 0; id < 10; id++) await log.append(entry(id))
      const full = (await stat(path)).size
      await log.prune(3, 5) // 3 droppable, not more than 5: left alone
      assert.equal((await stat(path)).size, full)
      await log.prune(8, 5)
      assert.ok((await stat(path)).size < full)
      await log.append(entry(10))
      const reread = await OffsetsLog.open<ReturnType<typeof entry>>(path)
      assert.deepEqual(reread.ids(), [8, 9, 10])
      assert.deepEqual(reread.get(10), entry(10))
    }))
})
