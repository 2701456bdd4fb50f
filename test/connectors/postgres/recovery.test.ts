import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import { OffsetsLog } from '../../../src/checkpoint/offsets-log.ts'
import { postgres } from '../../../src/connectors/postgres/index.ts'
import { memorySource } from '../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { SluiceError } from '../../../src/errors.ts'
import { run } from '../../../src/runtime/run.ts'
import type { SinkSpec, SinkWriter } from '../../../src/runtime/sink.ts'
import { withoutPosition } from '../sql/without-position.ts'
import { T0, tempDir, useDatabase } from './util.ts'

// Its outage test stops and starts the server itself.
const { db, sql } = useDatabase({ ownServer: true })

const Row = z.object({ id: z.number(), t: z.number() })
const rows = (n: number) =>
  Array.from({ length: n }, (_, id) => ({ value: { id, t: T0 + id }, partition: `p${id % 4}` }))

/** Wraps a sink: `fault(point, batchId)` may throw at each point of the protocol. */
function faulty<T>(
  inner: SinkSpec<T>,
  fault: (point: 'before-commit' | 'after-commit', batchId: number) => void,
): SinkSpec<T> {
  return {
    ...inner,
    create: (): SinkWriter<T> => {
      const w = inner.create()
      return {
        description: w.description,
        open: (c) => w.open(c),
        write: (b) => w.write(b),
        commit: async (b, c) => {
          fault('before-commit', b.batchId)
          await w.commit(b, c)
          fault('after-commit', b.batchId)
        },
        abort: async (b) => w.abort?.(b),
        hasCommitted: async (b) => (await w.hasCommitted?.(b)) ?? false,
        close: () => w.close(),
      }
    },
  }
}

async function ids(table: string): Promise<number[]> {
  return (await sql<{ id: string }>(`SELECT id FROM ${table} ORDER BY id`)).map((r) => Number(r.id))
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

describe('postgres sink: recovery', () => {
  test('a crash after the database commit but before the checkpoint: the batch is marked, not written again', async () => {
    const checkpoint = await tempDir()
    let crash = true
    const sink = faulty(
      postgres({ url: db().url, table: 'after_commit', createTable: true }),
      (point, batchId) => {
        if (crash && point === 'after-commit' && batchId === 3) {
          crash = false
          throw new Error('crash between the database commit and the checkpoint')
        }
      },
    )
    const p = pipeline('pg-after-commit')
      .from(memorySource('rows', rows(2000)))
      .parse(Row)
      .to(sink)
    await assert.rejects(
      run(p, { checkpoint, trigger: { kind: 'availableNow' }, maxBatchRecords: 100 }),
      /crash between/,
    )
    assert.equal((await ids('after_commit')).length, 400)
    assert.ok(
      (await OffsetsLog.open(join(checkpoint, 'offsets.log'))).get(3) !== undefined &&
        !existsSync(join(checkpoint, 'commits', '3.json')),
    )
    await run(p, { checkpoint, trigger: { kind: 'availableNow' }, maxBatchRecords: 100 })
    assert.deepEqual(await ids('after_commit'), range(2000))
  })

  test('a crash after write but before commit: the transaction rolls back and the replay writes the batch', async () => {
    const checkpoint = await tempDir()
    let crash = true
    const sink = faulty(
      postgres({ url: db().url, table: 'before_commit', createTable: true }),
      (point, batchId) => {
        if (crash && point === 'before-commit' && batchId === 5) {
          crash = false
          // Retryable: run() itself restarts from the checkpoint.
          throw new SluiceError('TEST_CRASH', 'lost connection (test)', {
            domain: 'external',
            retryable: true,
          })
        }
      },
    )
    const p = pipeline('pg-before-commit')
      .from(memorySource('rows', rows(2000)))
      .parse(Row)
      .to(sink)
    const summary = await run(p, { checkpoint, trigger: { kind: 'availableNow' }, maxBatchRecords: 100 })
    assert.equal(summary.restarts, 1)
    assert.deepEqual(await ids('before_commit'), range(2000))
  })

  test('a replay from the start the database holds is skipped, one that straddles it refused (runtime not asking)', async () => {
    const url = db().url
    // Without committedPosition the runtime replays a lost checkpoint from the start (lost-checkpoint.test.ts
    // covers the runtime starting from the database's position instead).
    const p = pipeline('pg-lost-checkpoint')
      .from(memorySource('rows', rows(1000)))
      .parse(Row)
      .to(withoutPosition(postgres({ url, table: 'lost_checkpoint', createTable: true })))
    await run(p, {
      checkpoint: await tempDir(),
      trigger: { kind: 'availableNow' },
      maxBatchRecords: 100,
      maxBatches: 4,
    })
    assert.equal((await ids('lost_checkpoint')).length, 400)
    // A fresh checkpoint replays from the start with the same batch boundaries: the first four are skipped.
    await run(p, { checkpoint: await tempDir(), trigger: { kind: 'availableNow' }, maxBatchRecords: 100 })
    assert.deepEqual(await ids('lost_checkpoint'), range(1000))
    // Different boundaries over input the database already holds cannot be de-duplicated: a clear error.
    await sql("UPDATE sluice_offsets SET batch_id = 2 WHERE pipeline_id = 'pg-lost-checkpoint'")
    await assert.rejects(
      run(p, { checkpoint: await tempDir(), trigger: { kind: 'availableNow' }, maxBatchRecords: 300 }),
      /sluice_offsets says pipeline "pg-lost-checkpoint" committed batch 2 .* the checkpoint does not belong with this database/,
    )
    assert.equal((await ids('lost_checkpoint')).length, 1000)
  })

  test('SIGKILL right after the database commit, and at random moments: no loss, no duplicates', async () => {
    const script = fileURLToPath(new URL('./fixtures/crash-pipeline.ts', import.meta.url))
    const checkpoint = await tempDir()
    const url = db().url
    const start = (killAfter?: number) =>
      spawn(
        process.execPath,
        [script, url, checkpoint, ...(killAfter === undefined ? [] : [String(killAfter)])],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      )
    const exit = (child: ReturnType<typeof start>) =>
      new Promise<{ code: number | null; signal: string | null; out: string }>((resolve) => {
        let out = ''
        child.stdout?.on('data', (d) => {
          out += d
        })
        child.stderr?.on('data', (d) => {
          out += d
        })
        child.on('exit', (code, signal) => resolve({ code, signal, out }))
      })
    // 1. Killed by itself right after batch 7's COMMIT, before the checkpoint's commit mark.
    const first = await exit(start(7))
    assert.equal(first.signal, 'SIGKILL', first.out)
    const [stored] = await sql<{ batch_id: string }>(
      "SELECT batch_id FROM sluice_offsets WHERE pipeline_id = 'crash-append'",
    )
    assert.equal(stored?.batch_id, '7')
    assert.ok((await OffsetsLog.open(join(checkpoint, 'append', 'offsets.log'))).get(7) !== undefined)
    assert.ok(!existsSync(join(checkpoint, 'append', 'commits', '7.json')))
    // 2. Killed from outside at random moments (in either pipeline).
    for (const delay of [900, 1300, 700, 1600]) {
      const child = start()
      const done = exit(child)
      await new Promise((r) => setTimeout(r, delay))
      child.kill('SIGKILL')
      await done
    }
    // 3. Run to the end.
    const last = await exit(start())
    assert.equal(last.code, 0, last.out)
    assert.deepEqual(await ids('crash_events'), range(20_000))
    const counts = await sql<{ key: string; window_start: Date; value: string }>('SELECT * FROM crash_counts')
    const expected = new Map<string, number>()
    for (let i = 0; i < 20_000; i++) {
      const id = `k${(i * 31) % 17}|${new Date(Math.floor((T0 + i * 40) / 60_000) * 60_000).toISOString()}`
      expected.set(id, (expected.get(id) ?? 0) + 1)
    }
    assert.equal(counts.length, expected.size)
    for (const c of counts)
      assert.equal(Number(c.value), expected.get(`${c.key}|${c.window_start.toISOString()}`))
  })

  test('the database restarting mid-run: retries with backoff, then exactly once', async () => {
    const p = pipeline('pg-restart')
      .from(memorySource('rows', rows(20_000)))
      .parse(Row)
      .to(postgres({ url: db().url, table: 'restart_rows', createTable: true }))
    const running = run(p, {
      checkpoint: await tempDir(),
      trigger: { kind: 'processingTime', intervalMs: 20 },
      maxBatchRecords: 200,
    })
    // Restart once some batches are in, while batches keep coming.
    for (let i = 0; i < 200; i++) {
      const [row] = await sql<{ batch_id: string }>(
        "SELECT batch_id FROM sluice_offsets WHERE pipeline_id = 'pg-restart'",
      )
      if (Number(row?.batch_id ?? -1) >= 10) break
      await new Promise((r) => setTimeout(r, 50))
    }
    await db().restart(1500)
    const summary = await running
    assert.ok(summary.restarts >= 1, `restarts: ${summary.restarts}`)
    assert.deepEqual(await ids('restart_rows'), range(20_000))
  })
})
