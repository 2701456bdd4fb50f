import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { MySqlRejectedError, mysql } from '../../../src/connectors/mysql/index.ts'
import { memorySource } from '../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { run } from '../../../src/runtime/run.ts'
import { useMariaDb } from './util.ts'

const db = useMariaDb()

interface Order {
  id: number
  name: string | null
  qty: number | string
  note?: string
}

/** 200 orders; the bad ones, keyed by id, with what the table says about them. */
const bad: Record<number, { row: Partial<Order>; reason: RegExp; code: number | null }> = {
  7: { row: { name: null }, reason: /^Column 'name' cannot be null$/, code: 1048 },
  50: { row: { name: 'toolong' }, reason: /^Data too long for column 'name'$/, code: 1406 },
  51: { row: { name: 'waytoolong' }, reason: /^Data too long for column 'name'$/, code: 1406 },
  120: { row: { qty: 'abc' }, reason: /^Incorrect integer value: 'abc' for column .*`qty`$/, code: 1366 },
  150: {
    row: { qty: 1.5 },
    // MariaDB would round it silently; without createTable the sink says how to widen the column.
    reason:
      /^column `qty` of `[^`]+`\.`orders` is INT\(11\), and 1\.5 is not a whole number; widen it: ALTER TABLE `orders` MODIFY `qty` DOUBLE NOT NULL \(or pass createTable: true/,
    code: null,
  },
  180: { row: { id: 3 }, reason: /^Duplicate entry '3' for key 'PRIMARY'$/, code: 1062 },
}
const orders: Order[] = Array.from({ length: 200 }, (_, i) => ({
  id: i,
  name: `n${i % 1000}`,
  qty: i * 2,
  note: `it's #${i}`,
  ...bad[i]?.row,
}))

function ordersPipeline(id: string, table: string, onError: 'dead-letter' | 'fail', rows = orders) {
  return pipeline(id)
    .from(memorySource<Order>(id, rows))
    .map((o) => o)
    .to(mysql<Order>({ url: db.server.url, table, onError }))
}

async function createOrders(table: string) {
  await db.query(
    `CREATE TABLE ${table} (id INT NOT NULL PRIMARY KEY, name VARCHAR(5) NOT NULL, qty INT NOT NULL, note TEXT) ENGINE=InnoDB`,
  )
}

describe('mysql sink, rows the table refuses', () => {
  test('go to the dead-letter table with the server message; the rest of their batch commits', async () => {
    await createOrders('orders')
    const summary = await run(ordersPipeline('bad-rows', 'orders', 'dead-letter'), {
      checkpoint: await db.checkpoint(),
      trigger: { kind: 'availableNow' },
      maxBatchRecords: 64,
    })
    assert.equal(summary.batches, 4)
    const rows = await db.query<Order>('SELECT id, name, qty, note FROM orders ORDER BY id')
    const expected = orders.filter((_, i) => !bad[i])
    assert.deepEqual(rows, expected)

    const letters = await db.query<{
      batch_id: number
      operator: string
      reason: string
      error_code: number | null
      record_key: string | null
      raw: Buffer
      source_partition: string | null
    }>(
      "SELECT batch_id, operator, reason, error_code, record_key, raw, source_partition FROM sluice_dead_letters WHERE pipeline_id = 'bad-rows' ORDER BY id",
    )
    assert.equal(letters.length, Object.keys(bad).length)
    for (const letter of letters) {
      const row = JSON.parse(letter.raw.toString()) as Order
      const index = orders.findIndex((o) => JSON.stringify(o) === letter.raw.toString())
      assert.ok(index >= 0, `the raw value is the row as JSON: ${letter.raw.toString()}`)
      const want = bad[index]
      assert.ok(want, `row ${index} (id ${row.id}) is one of the bad ones`)
      assert.match(letter.reason, want.reason)
      assert.equal(letter.error_code, want.code)
      assert.equal(letter.operator, 'sink')
      assert.equal(letter.batch_id, Math.floor(index / 64))
      assert.equal(letter.source_partition, null)
    }
    const [offsets] = await db.query<{ batch_id: number }>(
      "SELECT batch_id FROM sluice_offsets WHERE pipeline_id = 'bad-rows'",
    )
    assert.equal(offsets?.batch_id, 3)
  })

  test("onError: 'fail' stops the pipeline with the server's message, nothing of the batch written", async () => {
    await createOrders('orders_fail')
    const checkpoint = await db.checkpoint()
    const rows = orders.filter((_, i) => !bad[i] || i === 120) // one bad row, in batch 1
    for (let attempt = 0; attempt < 2; attempt++) {
      await assert.rejects(
        run(ordersPipeline('fail-rows', 'orders_fail', 'fail', rows), {
          checkpoint,
          trigger: { kind: 'availableNow' },
          maxBatchRecords: 64,
        }),
        (error: unknown) => {
          assert.ok(error instanceof MySqlRejectedError, String(error))
          assert.equal(error.domain, 'user')
          assert.equal(error.retryable, false)
          assert.match(
            error.message,
            /refused 1 row\(s\) of batch 1, nothing of the batch was written \(onError: 'fail'\)\. First: Incorrect integer value: 'abc' for column .*`qty`; row \d+: \{"id":120,"name":"n120","qty":"abc"/,
          )
          return true
        },
      )
    }
    const written = await db.query<{ id: number }>('SELECT id FROM orders_fail ORDER BY id')
    assert.deepEqual(
      written.map((r) => r.id),
      rows.slice(0, 64).map((r) => r.id),
    )
    const [letters] = await db.query<{ n: number }>(
      "SELECT COUNT(*) AS n FROM sluice_dead_letters WHERE pipeline_id = 'fail-rows'",
    )
    assert.equal(letters?.n, 0)
    const [offsets] = await db.query<{ batch_id: number }>(
      "SELECT batch_id FROM sluice_offsets WHERE pipeline_id = 'fail-rows'",
    )
    assert.equal(offsets?.batch_id, 0)
  })

  test('many bad rows in one statement are isolated; statements stay under the placeholder limit', async () => {
    await db.query('CREATE TABLE narrow (id INT PRIMARY KEY, v VARCHAR(3)) ENGINE=InnoDB')
    // 5000 rows, every 7th too long: one batch, statements of 2048 rows, 715 refusals.
    const rows = Array.from({ length: 5000 }, (_, i) => ({ id: i, v: i % 7 === 0 ? 'long!' : 'ok' }))
    await run(
      pipeline('narrow')
        .from(memorySource('narrow', rows))
        .map((r) => r)
        .to(mysql({ url: db.server.url, table: 'narrow' })),
      { checkpoint: await db.checkpoint(), trigger: { kind: 'availableNow' } },
    )
    const [count] = await db.query<{ n: number; s: number }>('SELECT COUNT(*) AS n, SUM(id) AS s FROM narrow')
    const good = rows.filter((r) => r.id % 7 !== 0)
    assert.equal(count?.n, good.length)
    assert.equal(
      Number(count?.s),
      good.reduce((s, r) => s + r.id, 0),
    )
    const [letters] = await db.query<{ n: number }>(
      "SELECT COUNT(*) AS n FROM sluice_dead_letters WHERE pipeline_id = 'narrow'",
    )
    assert.equal(letters?.n, rows.length - good.length)
  })
})
