import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { z } from 'zod'
import { sum } from '../../src/aggregate/index.ts'
import { memory } from '../../src/connectors/testing/memory.ts'
import { memorySource } from '../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { TestDriver } from '../../src/testing/test-driver.ts'
import { tumbling } from '../../src/window/index.ts'

const T0 = Date.parse('2026-11-25T10:00:00Z')
const Sale = z.object({ shop: z.string(), amount: z.number(), at: z.string() })
const sale = (shop: string, amount: number, minute: number) =>
  JSON.stringify({ shop, amount, at: new Date(T0 + minute * 60_000 + 1000).toISOString() })

function runningTotals() {
  return pipeline('totals')
    .from(memorySource('sales'))
    .parse(Sale)
    .withWatermark('at', '0s')
    .keyBy((s) => s.shop)
    .process<number, { shop: string; total: number }>({
      init: () => 0,
      process: (total, s, { key, emit }) => {
        if (s.amount < 0) throw new Error('negative amount')
        const next = total + s.amount
        emit({ shop: key, total: next })
        return next
      },
      ttl: '10m',
    })
    .to(memory())
}

describe('keyed process()', () => {
  test('keeps per-key state across batches and restarts, from the checkpoint', async () => {
    const driver = await TestDriver.create(runningTotals(), { startTime: T0 })
    driver.send([sale('a', 1, 0), sale('b', 5, 0), sale('a', 2, 1)]).runBatch()
    await driver.restart()
    driver.send([sale('a', 3, 2), sale('b', 1, 2)]).runBatch()
    assert.deepEqual(driver.output, [
      { shop: 'a', total: 1 },
      { shop: 'b', total: 5 },
      { shop: 'a', total: 3 },
      { shop: 'a', total: 6 },
      { shop: 'b', total: 6 },
    ])
  })

  test('a throwing function dead-letters the value, emits nothing for it and keeps the state', async () => {
    const driver = await TestDriver.create(runningTotals(), { startTime: T0 })
    driver.send([sale('a', 1, 0), sale('a', -1, 0), sale('a', 2, 0)]).runBatch()
    assert.deepEqual(
      driver.output.map((r) => r.total),
      [1, 3],
    )
    assert.equal(driver.deadLetters.length, 1)
    assert.match(driver.deadLetters[0]!.reason, /process threw: negative amount/)
  })

  test('forgets keys the watermark has left behind by more than the ttl', async () => {
    const driver = await TestDriver.create(runningTotals(), { startTime: T0 })
    driver.send([sale('a', 1, 0), sale('b', 1, 0)]).runBatch()
    driver.send([sale('b', 1, 30)]).runBatch()
    driver.runBatch() // the watermark is now minute 30: "a" (last seen at minute 0) expires
    driver.send([sale('a', 1, 31)]).runBatch()
    assert.deepEqual(driver.output.at(-1), { shop: 'a', total: 1 })
    assert.deepEqual(driver.output.at(-2), { shop: 'b', total: 2 })
  })

  test('compares each closed window with the previous one of its key', async () => {
    const p = pipeline('alerts')
      .from(memorySource('sales'))
      .parse(Sale)
      .withWatermark('at', '0s')
      .keyBy((s) => s.shop)
      .window(tumbling('1m'))
      .aggregate(sum((s: z.output<typeof Sale>) => s.amount))
      .keyBy((row) => row.key)
      .process({
        init: () => null as number | null,
        process: (previous, row, { emit }) => {
          if (previous !== null && row.value >= previous * 2)
            emit({ shop: row.key, window: row.window_start, from: previous, to: row.value })
          return row.value
        },
      })
      .to(memory())
    const driver = await TestDriver.create(p, { startTime: T0 })
    driver
      .send([sale('a', 10, 0), sale('a', 10, 1), sale('a', 30, 2), sale('a', 1, 3), sale('a', 5, 4)])
      .runBatch()
    driver.send([sale('a', 0, 9)]).runBatch()
    driver.runBatch() // the watermark of the batch before closes minute 4
    assert.deepEqual(driver.output, [
      { shop: 'a', window: '2026-11-25T10:02:00.000Z', from: 10, to: 30 },
      { shop: 'a', window: '2026-11-25T10:04:00.000Z', from: 1, to: 5 },
    ])
  })
})
