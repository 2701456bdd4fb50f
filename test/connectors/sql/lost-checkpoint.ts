/**
 * The same recovery scenarios for every SQL sink (postgres, mysql, duckdb): the checkpoint deleted, or an
 * older copy of it, after the database committed batches; the run must start from the position the
 * database holds, so the table ends up with every input exactly once (compared by content). A pipeline with
 * state cannot do that and must say so.
 */
import assert from 'node:assert/strict'
import { cp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import { z } from 'zod'
import { memorySource } from '../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { SluiceError } from '../../../src/errors.ts'
import { run } from '../../../src/runtime/run.ts'
import type { SinkSpec } from '../../../src/runtime/sink.ts'

export const Item = z.object({
  id: z.number().int(),
  user: z.string(),
  amount: z.number(),
  at: z.iso.datetime(),
})
export type Item = z.infer<typeof Item>

const T0 = Date.parse('2026-03-02T09:00:00Z')
export function item(i: number): Item {
  return { id: i, user: `u-${i % 37}`, amount: i * 0.25, at: new Date(T0 + i * 1000).toISOString() }
}

const N = 1000
const input = Array.from({ length: N }, (_, i) => ({
  value: JSON.stringify(item(i)),
  partition: `p${i % 3}`,
}))
const expected = (n: number) => Array.from({ length: n }, (_, i) => item(i))

export interface LostCheckpointTarget {
  /** An append sink writing into `table` (created by the sink). */
  sink(table: string): SinkSpec<Item>
  /** The table's rows as items, in id order. */
  rows(table: string): Promise<Item[]>
  tempDir(): Promise<string>
}

const trigger = { kind: 'availableNow' } as const

/** Registers the scenarios as tests of the calling file (inside its describe()). */
export function lostCheckpointTests(target: LostCheckpointTarget): void {
  const stateless = (table: string) =>
    pipeline(`lost-${table}`).from(memorySource('items', input)).parse(Item).to(target.sink(table))

  test('the checkpoint deleted: the run starts where the database is, every input lands once', async () => {
    const checkpoint = join(await target.tempDir(), 'checkpoint')
    await run(stateless('deleted'), { checkpoint, trigger, maxBatchRecords: 100, maxBatches: 4 })
    assert.equal((await target.rows('deleted')).length, 400)
    await rm(checkpoint, { recursive: true, force: true })
    // Other batch sizes than the first run: a replay from the start would straddle what the database holds.
    const summary = await run(stateless('deleted'), { checkpoint, trigger, maxBatchRecords: 70 })
    assert.equal(summary.inputRows, 600, 'only what the database does not hold is read again')
    assert.deepEqual(await target.rows('deleted'), expected(N))
  })

  test('an older copy of the checkpoint: the run starts where the database is, every input lands once', async () => {
    const dir = await target.tempDir()
    const checkpoint = join(dir, 'checkpoint')
    const p = stateless('older')
    await run(p, { checkpoint, trigger, maxBatchRecords: 100, maxBatches: 2 })
    await cp(checkpoint, join(dir, 'copy'), { recursive: true })
    await run(p, { checkpoint, trigger, maxBatchRecords: 100, maxBatches: 3 })
    await rm(checkpoint, { recursive: true, force: true })
    await cp(join(dir, 'copy'), checkpoint, { recursive: true })
    const summary = await run(p, { checkpoint, trigger, maxBatchRecords: 130 })
    assert.equal(summary.inputRows, 500)
    assert.deepEqual(await target.rows('older'), expected(N))
    // And once more with the checkpoint that run left: nothing to do.
    assert.equal((await run(p, { checkpoint, trigger })).inputRows, 0)
    assert.deepEqual(await target.rows('older'), expected(N))
  })

  test('a pipeline with state and a lost checkpoint stops with what to do; nothing more is written', async () => {
    const checkpoint = join(await target.tempDir(), 'checkpoint')
    const p = pipeline('lost-stateful')
      .from(memorySource('items', input))
      .parse(Item)
      .withWatermark('at', '10s')
      .dedupe((e) => String(e.id), '1m')
      .to(target.sink('stateful'))
    await run(p, { checkpoint, trigger, maxBatchRecords: 100, maxBatches: 2 })
    await rm(checkpoint, { recursive: true, force: true })
    await assert.rejects(run(p, { checkpoint, trigger, maxBatchRecords: 100 }), (error: unknown) => {
      assert.ok(error instanceof SluiceError)
      assert.equal(error.code, 'SLUICE_CHECKPOINT_BEHIND_SINK')
      assert.equal(error.exitCode, 2)
      assert.match(error.message, /committed batch 1, but the checkpoint .* has no batch/)
      assert.match(
        error.message,
        /cannot be rebuilt .* Otherwise restore the checkpoint directory, or start over/,
      )
      return true
    })
    assert.deepEqual(await target.rows('stateful'), expected(200))
  })
}
