import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { z } from 'zod'
import { count } from '../../src/aggregate/index.ts'
import { KafkaProducer } from '../../src/connectors/kafka/producer.ts'
import { memory } from '../../src/connectors/testing/memory.ts'
import { memorySource } from '../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { UsageError } from '../../src/errors.ts'
import { type TaskMove, TestDriver } from '../../src/testing/test-driver.ts'
import { tumbling } from '../../src/window/index.ts'
import { brokers, freshTopic, readRecords } from '../helpers/kafka.ts'

/**
 * The test driver's partitioned mode: the runtime's own Task per partition, per-partition watermarks, and
 * rebalances (moveTasks) that restore a task's state from the in-memory changelog. A pipeline's results
 * must not depend on which instance ran which partition when.
 */

const T0 = Date.parse('2026-11-25T10:00:00Z')
const Event = z.object({ id: z.number(), key: z.string(), t: z.number() })
type Event = z.infer<typeof Event>

const dirs: string[] = []
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

/** Distinct events per record key and 10-second window, after dropping re-sent ids. */
function countsPerKey(name = 'counts') {
  return pipeline(name)
    .from(memorySource(name))
    .parse(Event)
    .withWatermark('t', '0s')
    .dedupe((e) => e.id, '1m', { partitioned: true })
    .keyByRecordKey()
    .window(tumbling('10s'))
    .aggregate(count(), { outputMode: 'append' })
    .to(memory())
}

/** Event i: key k(i % 24), 100 ms apart (a window of a key holds about 4 events); every 7th is sent twice. */
function events(n: number): Event[] {
  const out: Event[] = []
  for (let id = 0; id < n; id++) {
    const e = { id, key: `k${id % 24}`, t: T0 + id * 100 }
    out.push(e)
    if (id % 7 === 0) out.push(e)
  }
  return out
}

/** The reference: distinct ids per "key@window start". */
function reference(n: number): Map<string, number> {
  const out = new Map<string, number>()
  for (let id = 0; id < n; id++) {
    const t = T0 + id * 100
    const cell = `k${id % 24}@${new Date(t - (t % 10_000)).toISOString()}`
    out.set(cell, (out.get(cell) ?? 0) + 1)
  }
  return out
}

type Row = { key: string; window_start: string; value: number }

function cells(rows: readonly Row[]): Map<string, number> {
  const out = new Map<string, number>()
  for (const row of rows) {
    const cell = `${row.key}@${row.window_start}`
    assert.equal(out.has(cell), false, `window ${cell} emitted twice`)
    out.set(cell, row.value)
  }
  return out
}

/**
 * Sends `n` events in batches of 50, each to the partition its key goes to, then ends the input. `between`
 * runs after each batch: the rebalances.
 */
async function run(
  driver: TestDriver<Row>,
  n: number,
  between: (batch: number) => Promise<void> = async () => {},
): Promise<void> {
  const all = events(n)
  for (let i = 0, batch = 0; i < all.length; i += 50, batch++) {
    for (const e of all.slice(i, i + 50)) driver.send(e, { key: e.key })
    driver.advanceTime(1000)
    driver.runBatch()
    await between(batch)
  }
  driver.endInput()
}

describe('TestDriver with partitions', () => {
  test('each partition has its own watermark: a quiet partition does not hold back the windows of another', async () => {
    const sendBoth = (driver: TestDriver<Row>, partitions: [number | string, number | string]) => {
      driver.send({ id: 1, key: 'a', t: T0 + 1000 }, { key: 'a', partition: partitions[0] })
      driver.send({ id: 2, key: 'b', t: T0 + 2000 }, { key: 'b', partition: partitions[1] })
      driver.runBatch()
      // Only partition 0 moves on in event time; partition 1 stays quiet.
      driver.send({ id: 3, key: 'a', t: T0 + 25_000 }, { key: 'a', partition: partitions[0] })
      driver.runBatch()
      driver.runBatch() // a batch runs under the watermark of what earlier batches saw
    }
    const partitioned = await TestDriver.create(countsPerKey(), { partitions: 2, startTime: T0 })
    sendBoth(partitioned, [0, 1])
    assert.deepEqual(
      partitioned.outputOf(0).map((r) => [r.key, r.window_start, r.value]),
      [['a', new Date(T0).toISOString(), 1]],
      "partition 0's window [0 s, 10 s) closed on its own event time",
    )
    assert.deepEqual(partitioned.outputOf(1), [])
    assert.equal(partitioned.watermarkOf(0), T0 + 25_000)
    assert.equal(partitioned.watermarkOf(1), T0 + 2000)
    assert.equal(partitioned.watermark, T0 + 2000, 'the driver-wide watermark is the lowest of the tasks')
    partitioned.close()

    // One processor over both partitions (the driver without `partitions`): the quiet one holds it back.
    const single = await TestDriver.create(countsPerKey(), { startTime: T0 })
    sendBoth(single, ['p0', 'p1'])
    assert.deepEqual(single.output, [])
    single.close()
  })

  test('a keyed window with dedupe gives the same output with and without several rebalances, equal to a reference', async () => {
    const n = 3000
    const straight = await TestDriver.create(countsPerKey(), { partitions: 6, startTime: T0 })
    await run(straight, n)

    const stateDirectory = await mkdtemp(join(tmpdir(), 'sluice-driver-partitions-'))
    dirs.push(stateDirectory)
    const moved = await TestDriver.create(countsPerKey(), { partitions: 6, startTime: T0, stateDirectory })
    const restored: string[] = []
    const rebalances: Record<number, () => Promise<TaskMove[]>> = {
      5: () => moved.moveTasks([0, 2, 5]),
      11: () => moved.moveTasks([1, 2, 3], { restoreFrom: 'local' }),
      17: () => moved.moveTasks([2, 4]),
      23: () => moved.moveTasks([0, 1, 2, 3, 4, 5], { restoreFrom: 'local' }),
    }
    await run(moved, n, async (batch) => {
      for (const m of (await rebalances[batch]?.()) ?? [])
        restored.push(`${m.partition}:${m.restoredFrom}:${m.rows > 0}`)
      if (batch === 29) await moved.restart()
    })
    // A store in the state directory is current only while its partition stays there: partition 2 left it
    // at batch 5, so at 11 its store there is stale; at 23 only 1 and 3 are still where 11 put them.
    assert.deepEqual(restored, [
      '0:changelog:true',
      '2:changelog:true',
      '5:changelog:true',
      '1:local:false',
      '2:changelog:true',
      '3:local:false',
      '2:changelog:true',
      '4:changelog:true',
      '0:changelog:true',
      '1:local:false',
      '2:changelog:true',
      '3:local:false',
      '4:changelog:true',
      '5:changelog:true',
    ])

    const expected = reference(n)
    const straightCells = cells(straight.output)
    assert.deepEqual(straightCells, expected, 'the straight run equals the reference')
    assert.deepEqual(cells(moved.output), straightCells, 'the run with rebalances equals the straight one')
    for (let p = 0; p < 6; p++)
      assert.deepEqual(
        moved.outputOf(p).map((r) => `${r.key}@${r.window_start}=${r.value}`),
        straight.outputOf(p).map((r) => `${r.key}@${r.window_start}=${r.value}`),
        `partition ${p}`,
      )
    straight.close()
    moved.close()
  })

  test('dedupe remembers what it saw across a move of its partition', async () => {
    const deduped = pipeline('dedupe-moves')
      .from(memorySource('dedupe-moves'))
      .parse(Event)
      .withWatermark('t', '0s')
      .dedupe((e) => e.id, '1m', { partitioned: true })
      .to(memory())
    const driver = await TestDriver.create(deduped, { partitions: 4, startTime: T0 })
    const p = driver.partitionOf('order-7')
    driver.send({ id: 7, key: 'order-7', t: T0 }, { key: 'order-7' }).runBatch()
    const [move] = await driver.moveTasks([p])
    assert.equal(move?.restoredFrom, 'changelog')
    assert.equal(move?.rows, 1, 'the seen id came back from the changelog')
    const again = driver.send({ id: 7, key: 'order-7', t: T0 + 5000 }, { key: 'order-7' }).runBatch()
    assert.equal(again.counters.duplicateRows, 1)
    assert.deepEqual(
      driver.outputOf(p).map((e) => e.id),
      [7],
    )
    driver.close()
  })

  test('a key goes to the partition the Kafka producer sends it to', async () => {
    const partitions = 6
    const topic = await freshTopic('driver-partitioner', partitions)
    const keys = Array.from({ length: 200 }, (_, i) => `key-${i}-${'x'.repeat(i % 9)}`)
    const producer = new KafkaProducer({ brokers: brokers() })
    try {
      await producer.send(keys.map((key) => ({ topic, key, value: key })))
    } finally {
      await producer.close()
    }
    const placed = await readRecords(topic, keys.length)
    const driver = await TestDriver.create(countsPerKey(), { partitions })
    const byKey = new Map(placed.map((r) => [r.key!.toString('utf8'), r.partition]))
    assert.equal(new Set(byKey.values()).size, partitions, 'the keys spread over every partition')
    for (const key of keys) assert.equal(driver.partitionOf(key), byKey.get(key), key)
    driver.close()
  })

  test('a pipeline whose state does not follow the partitioning is refused, with the reason', async () => {
    const byField = pipeline('by-field')
      .from(memorySource('by-field'))
      .parse(Event)
      .withWatermark('t', '0s')
      .keyBy((e) => e.key)
      .window(tumbling('10s'))
      .aggregate(count())
      .to(memory())
    await assert.rejects(
      TestDriver.create(byField, { partitions: 3 }),
      (error: unknown) =>
        error instanceof UsageError &&
        /keyByRecordKey\(\)/.test(error.message) &&
        /window/.test(error.message),
    )
    const driver = await TestDriver.create(countsPerKey(), { partitions: 3 })
    assert.throws(() => driver.send({ id: 1, key: 'a', t: T0 }), /needs a partition or a key/)
    assert.throws(() => driver.send({ id: 1, key: 'a', t: T0 }, { partition: 3 }), /partitions 0 to 2/)
    await assert.rejects(driver.moveTasks([0], { restoreFrom: 'local' }), /stateDirectory/)
    driver.close()
  })
})
