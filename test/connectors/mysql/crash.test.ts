import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { mysql } from '../../../src/connectors/mysql/index.ts'
import { memorySource } from '../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { run } from '../../../src/runtime/run.ts'
import type { SinkSpec, SinkWriter } from '../../../src/runtime/sink.ts'
import { withoutPosition } from '../sql/without-position.ts'
import { ORDERS, Order, order } from './fixtures/crash-pipeline.ts'
import { useMariaDb } from './util.ts'

const db = useMariaDb()
const fixture = join(import.meta.dirname, 'fixtures', 'crash-pipeline.ts')

/** Wraps a sink so that the process "dies" (an error nothing catches) right after `at` of batch `batchId`. */
function failingAfter<T>(inner: SinkSpec<T>, at: 'write' | 'commit', batchId: number): SinkSpec<T> {
  return {
    ...inner,
    create: (): SinkWriter<T> => {
      const writer = inner.create()
      return {
        ...writer,
        description: writer.description,
        open: (context) => writer.open(context),
        async write(batch) {
          await writer.write(batch)
          if (at === 'write' && batch.batchId === batchId) throw new Error(`crash after write of ${batchId}`)
        },
        async commit(batch, context) {
          await writer.commit(batch, context)
          if (at === 'commit' && batch.batchId === batchId)
            throw new Error(`crash after commit of ${batchId}`)
        },
        abort: (batch) => writer.abort?.(batch) ?? Promise.resolve(),
        hasCommitted: (batch) => writer.hasCommitted?.(batch) ?? Promise.resolve(false),
        close: () => writer.close(),
      }
    },
  }
}

const input = Array.from({ length: 3000 }, (_, i) => ({
  value: JSON.stringify(order(i)),
  partition: `p${i % 3}`,
}))

function ordersTo(table: string, wrap: (s: SinkSpec<Order>) => SinkSpec<Order> = (s) => s) {
  return pipeline(`crash-${table}`)
    .from(memorySource('orders', input))
    .parse(Order)
    .to(wrap(mysql<Order>({ url: db.server.url, table, createTable: true })))
}

async function assertExactlyOnce(table: string, n: number) {
  const [stats] = await db.query<{ n: number; ids: number; s: number }>(
    `SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS ids, SUM(cents) AS s FROM ${table}`,
  )
  assert.equal(stats?.n, n, 'no row lost or written twice')
  assert.equal(stats?.ids, n)
  let cents = 0
  for (let i = 0; i < n; i++) cents += order(i).cents
  assert.equal(Number(stats?.s), cents)
}

describe('mysql sink, crashes', () => {
  test('a crash between the database commit and the checkpoint: the rerun marks the batch, nothing twice', async () => {
    const checkpoint = await db.checkpoint()
    const options = { checkpoint, trigger: { kind: 'availableNow' } as const, maxBatchRecords: 200 }
    await assert.rejects(
      run(
        ordersTo('after_commit', (s) => failingAfter(s, 'commit', 4)),
        options,
      ),
      /crash after commit of 4/,
    )
    const [offsets] = await db.query<{ batch_id: number }>(
      "SELECT batch_id FROM sluice_offsets WHERE pipeline_id = 'crash-after_commit'",
    )
    assert.equal(offsets?.batch_id, 4, 'the database committed batch 4')
    const [partial] = await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM after_commit')
    assert.equal(partial?.n, 1000)
    const rerun = await run(ordersTo('after_commit'), options)
    assert.equal(rerun.batches, 10, 'batch 4 was marked, not replayed')
    await assertExactlyOnce('after_commit', 3000)
  })

  test('a crash after the write, before the commit: the open transaction is rolled back and the batch replayed', async () => {
    const checkpoint = await db.checkpoint()
    const options = { checkpoint, trigger: { kind: 'availableNow' } as const, maxBatchRecords: 200 }
    await assert.rejects(
      run(
        ordersTo('after_write', (s) => failingAfter(s, 'write', 6)),
        options,
      ),
      /crash after write of 6/,
    )
    const [partial] = await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM after_write')
    assert.equal(partial?.n, 1200)
    const rerun = await run(ordersTo('after_write'), options)
    assert.equal(rerun.batches, 9, 'batch 6 was replayed')
    await assertExactlyOnce('after_write', 3000)
  })

  test('a replay the runtime does not ask about writes nothing: the offsets row says it is done', async () => {
    const checkpoint = await db.checkpoint()
    const options = { checkpoint, trigger: { kind: 'availableNow' } as const, maxBatchRecords: 200 }
    await assert.rejects(
      run(
        ordersTo('no_state', (s) => failingAfter(s, 'commit', 2)),
        options,
      ),
      /crash after commit of 2/,
    )
    // The runtime skips the question when it lacks the batch's state; here the sink cannot answer it.
    const rerun = await run(ordersTo('no_state', withoutPosition), options)
    assert.equal(rerun.batches, 13, 'batch 2 went through the sink again')
    await assertExactlyOnce('no_state', 3000)
  })

  test('SIGKILL right after the sink commits or writes, and at random moments: the output is exact', async () => {
    const checkpoint = await db.checkpoint()
    const child = (crash: string) =>
      spawn(process.execPath, [fixture, db.server.url, checkpoint], {
        env: { ...process.env, SLUICE_CRASH: crash },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
    const exit = (proc: ReturnType<typeof child>) =>
      new Promise<{ code: number | null; signal: string | null; out: string; err: string }>((resolve) => {
        let out = ''
        let err = ''
        proc.stdout?.on('data', (d: Buffer) => {
          out += d.toString()
        })
        proc.stderr?.on('data', (d: Buffer) => {
          err += d.toString()
        })
        proc.once('exit', (code, signal) => resolve({ code, signal, out, err }))
      })
    const committed = async () => {
      const [row] = await db.query<{ batch_id: number }>(
        "SELECT batch_id FROM sluice_offsets WHERE pipeline_id = 'mysql-crash'",
      )
      return row?.batch_id ?? -1
    }

    for (const crash of ['commit:3', 'write:7', 'commit:12', 'write:15', 'commit:16']) {
      const result = await exit(child(crash))
      assert.equal(result.signal, 'SIGKILL', `${crash}: ${result.err}`)
    }
    assert.equal(await committed(), 16)
    // Killed from outside, right after the offsets row moved on.
    for (const ahead of [3, 7, 11]) {
      const proc = child('')
      const done = exit(proc)
      const target = (await committed()) + ahead
      while ((await committed()) < target && proc.exitCode === null)
        await new Promise((r) => setTimeout(r, 5))
      proc.kill('SIGKILL')
      const result = await done
      assert.equal(result.signal, 'SIGKILL', `killed at ${target}: ${result.err}`)
    }
    const last = await exit(child(''))
    assert.equal(last.code, 0, last.err)
    await assertExactlyOnce('orders', ORDERS)
    assert.equal(await committed(), ORDERS / 250 - 1)
  })
})
