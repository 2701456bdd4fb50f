import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { pino } from 'pino'
import { mysql } from '../../../src/connectors/mysql/index.ts'
import { memorySource } from '../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { SluiceError } from '../../../src/errors.ts'
import { run } from '../../../src/runtime/run.ts'
import type { SinkSpec, SinkWriter } from '../../../src/runtime/sink.ts'
import { Order, order } from './fixtures/crash-pipeline.ts'
import { useMariaDb } from './util.ts'

const db = useMariaDb({ ownServer: true })

function input(n: number) {
  return Array.from({ length: n }, (_, i) => ({ value: JSON.stringify(order(i)), partition: `p${i % 3}` }))
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

describe('mysql sink, server outages', () => {
  test('the server restarting mid-run (inside a transaction and between batches): retried, then exact', async (t) => {
    if (!db.server.own) return t.skip('the MYSQL_URL server cannot be restarted by a test')
    const errors: string[] = []
    let restartedInTransaction = false
    const inner = mysql<Order>({ url: db.server.url, table: 'restarted', createTable: true })
    const sink: SinkSpec<Order> = {
      ...inner,
      create: (): SinkWriter<Order> => {
        const writer = inner.create()
        return {
          description: writer.description,
          open: (context) => writer.open(context),
          async write(batch) {
            await writer.write(batch)
            if (batch.batchId === 40 && !restartedInTransaction) {
              // The batch's rows are in an open transaction: the server goes down under it.
              restartedInTransaction = true
              await db.server.shutdown()
              setTimeout(() => void db.server.start(), 1500)
            }
          },
          commit: (batch, context) => writer.commit(batch, context),
          abort: (batch) => writer.abort?.(batch) ?? Promise.resolve(),
          hasCommitted: (batch) => writer.hasCommitted?.(batch) ?? Promise.resolve(false),
          close: () => writer.close(),
        }
      },
    }
    let restarting: Promise<void> | undefined
    const summary = await run(
      pipeline('restarts')
        .from(memorySource('orders', input(30_000)))
        .parse(Order)
        .to(sink),
      {
        checkpoint: await db.checkpoint(),
        trigger: { kind: 'continuous' },
        maxBatchRecords: 200,
        logger: pino(
          { level: 'warn' },
          { write: (line: string) => errors.push(String(JSON.parse(line).retry?.cause)) },
        ),
        onProgress: (progress) => {
          // Between two batches: the server restarts while the pipeline keeps going.
          if (progress.batchId === 100) restarting = db.server.restart()
        },
      },
    )
    await restarting
    assert.ok(restartedInTransaction)
    assert.ok(summary.restarts >= 2, `restarted ${summary.restarts} times`)
    assert.ok(
      errors.some((e) =>
        /PROTOCOL_CONNECTION_LOST|ECONNREFUSED|server shutdown|closed state|Connection lost/i.test(e),
      ),
      errors.join('\n'),
    )
    await assertExactlyOnce('restarted', 30_000)
  })

  test('a server that is down when the pipeline starts: retried with backoff until it is up', async (t) => {
    if (!db.server.own) return t.skip('the MYSQL_URL server cannot be stopped by a test')
    await db.server.shutdown()
    const started = Date.now()
    setTimeout(() => void db.server.start(), 2000)
    const summary = await run(
      pipeline('down-at-start')
        .from(memorySource('orders', input(2000)))
        .parse(Order)
        .to(mysql<Order>({ url: db.server.url, table: 'down_at_start', createTable: true })),
      { checkpoint: await db.checkpoint(), trigger: { kind: 'availableNow' }, maxBatchRecords: 500 },
    )
    assert.ok(Date.now() - started >= 2000)
    assert.ok(summary.restarts >= 1)
    await assertExactlyOnce('down_at_start', 2000)
  })

  test('errors say whether retrying helps: a refused connection is retryable, a wrong password is not', async () => {
    const url = new URL(db.server.url)
    url.port = '1' // nothing listens there
    const refused = mysql({ url: url.href, table: 't' }).create()
    await assert.rejects(refused.open({ pipelineId: 'x', source: {} as never }), (error: unknown) => {
      assert.ok(error instanceof SluiceError)
      assert.equal(error.retryable, true)
      assert.match(error.message, /cannot connect to mysql:\/\/root@127\.0\.0\.1:1\/.*ECONNREFUSED/)
      return true
    })
    await refused.close()
    const denied = new URL(db.server.url)
    denied.username = 'nobody'
    denied.password = 'secret'
    const wrong = mysql({ url: denied.href, table: 't' }).create()
    await assert.rejects(wrong.open({ pipelineId: 'x', source: {} as never }), (error: unknown) => {
      assert.ok(error instanceof SluiceError)
      assert.equal(error.retryable, false)
      assert.match(error.message, /Access denied/)
      assert.doesNotMatch(error.message, /secret/)
      return true
    })
    await wrong.close()
  })
})
