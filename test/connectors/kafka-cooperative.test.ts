import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { KafkaAdmin } from '../../src/connectors/kafka/admin.ts'
import { hookApi } from '../../src/connectors/kafka/api-hook.ts'
import { KafkaConsumer } from '../../src/connectors/kafka/consumer.ts'
import { KafkaProducer } from '../../src/connectors/kafka/producer.ts'
import { rawConsumer } from '../../src/connectors/kafka/raw.ts'
import type { ConsumedRecord } from '../../src/connectors/kafka/records.ts'
import { brokers, freshTopic, uniqueGroup } from '../helpers/kafka.ts'
import { waitFor } from '../helpers/wait.ts'

/**
 * The consumer in cooperative mode (scaled-out pipelines), against the real broker: partitions move between
 * members, and a member that gets a partition back starts it where the group says, not where it once was.
 */

async function produce(topic: string, partitions: number, perPartition: number): Promise<void> {
  const producer = new KafkaProducer({ brokers: brokers() })
  try {
    const records = []
    for (let p = 0; p < partitions; p++)
      for (let i = 0; i < perPartition; i++) records.push({ topic, partition: p, value: `${p}:${i}` })
    await producer.send(records)
  } finally {
    await producer.close()
  }
}

function member(groupId: string, topic: string, maxBytesPerPartition?: number): KafkaConsumer {
  return new KafkaConsumer({
    brokers: brokers(),
    groupId,
    topics: [topic],
    cooperative: true,
    ...(maxBytesPerPartition ? { maxBytesPerPartition } : {}),
  })
}

/** Polls `consumer` until `done(records so far)` holds, handing each batch back as finished. */
async function pollUntil(
  consumer: KafkaConsumer,
  done: (records: readonly ConsumedRecord[]) => boolean,
  what: string,
): Promise<ConsumedRecord[]> {
  const records: ConsumedRecord[] = []
  const deadline = Date.now() + 60_000
  while (!done(records)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${records.length} records`)
    records.push(...(await consumer.poll({ maxRecords: 1000, lingerMs: 10, idleMs: 100 })))
    consumer.finishedBatch()
  }
  return records
}

/** The offsets of `records` from partition `key` ("topic:partition"), in the order they were handed out. */
function offsetsOf(records: readonly ConsumedRecord[], key: string): number[] {
  return records.filter((m) => `${m.topic}:${m.partition}` === key).map((m) => Number(m.offset))
}

/**
 * b joins a's group, takes one of a's two partitions, and leaves without reading or committing: the
 * partition comes back to a. Returns it ("topic:partition").
 */
async function lendOnePartition(a: KafkaConsumer, b: KafkaConsumer): Promise<string> {
  await b.start()
  await waitFor(
    () => a.ownedPartitions().size === 1 && b.ownedPartitions().size === 1,
    60_000,
    'the partitions to be shared',
  )
  const moved = [...b.ownedPartitions()][0]!
  await b.close()
  await waitFor(() => a.ownedPartitions().size === 2, 60_000, `${moved} to come back to a`)
  return moved
}

describe('cooperative consumer', () => {
  test('a partition given back with no commit in the group starts at the beginning, not where this member once read', async () => {
    const topic = await freshTopic('coop-back', 2)
    await produce(topic, 2, 100)
    const groupId = uniqueGroup('coop-back')
    const a = member(groupId, topic)
    const b = member(groupId, topic)
    try {
      // a alone reads both partitions to their end and commits nothing.
      await pollUntil(a, (r) => r.length >= 200, 'a to read both partitions')
      // The partition b had comes back to a, which must read it again from offset 0.
      const moved = await lendOnePartition(a, b)
      const again = await pollUntil(a, (r) => offsetsOf(r, moved).length >= 100, `a to read ${moved} again`)
      const offsets = offsetsOf(again, moved)
      assert.equal(offsets[0], 0, 'from the beginning (the group has no commit for it)')
      assert.deepEqual(
        offsets,
        Array.from({ length: 100 }, (_, i) => i),
        'each record once, in order',
      )
    } finally {
      await a.close()
      await b.close()
    }
  })

  test('a partition given back while records of its earlier ownership still wait in the buffer starts where the group says, not after them', async () => {
    const topic = await freshTopic('coop-stale-buffer', 2)
    // Record batches of 50 per partition, fetched one batch per partition at a time (tiny fetch slices): the
    // stream's buffer holds both partitions' records interleaved.
    for (let i = 0; i < 20; i++) await produce(topic, 2, 50)
    const groupId = uniqueGroup('coop-stale-buffer')
    const a = member(groupId, topic, 64)
    const b = member(groupId, topic)
    try {
      // a hands out the start of both partitions and commits nothing; the rest of what it fetched stays
      // buffered, as in a pipeline whose batch is abandoned (fenced) when its partitions move.
      const first = await pollUntil(
        a,
        (r) => new Set(r.map((m) => m.partition)).size === 2,
        'a to read some of both partitions',
      )
      // The partition b had comes back to a, which must read it again from offset 0.
      const moved = await lendOnePartition(a, b)
      assert.ok(offsetsOf(first, moved).length > 0, 'a had handed out records of the partition that moved')
      const again = await pollUntil(
        a,
        (r) => offsetsOf(r, moved).includes(999),
        `a to read ${moved} to its end again`,
      )
      // Before: a handed out the records buffered in its first ownership (from past where it had read) as
      // the start of the second, then dropped the refetched ones below them: the records between were lost.
      const offsets = offsetsOf(again, moved)
      assert.equal(offsets[0], 0, `from the beginning (the group has no commit for it), not ${offsets[0]}`)
      assert.deepEqual(
        offsets,
        Array.from({ length: 1000 }, (_, i) => i),
        'each record once, in order',
      )
    } finally {
      await a.close()
      await b.close()
    }
  })

  test('a commit inside an open batch under a generation the group has left returns, instead of rejoining the group (whose rebalance waits for the batch)', async () => {
    const topic = await freshTopic('coop-commit', 3)
    await produce(topic, 3, 50)
    const groupId = uniqueGroup('coop-commit')
    const leader = member(groupId, topic)
    const a = member(groupId, topic)
    const c = member(groupId, topic)
    // a's answer to its next JoinGroup can be held back: the group is then in a new generation while a still
    // commits under the one before, as when a commit crosses the join on the wire.
    let holding = false
    let joinAnswered = () => {}
    const answered = new Promise<void>((resolve) => (joinAnswered = resolve))
    let release = () => {}
    const released = new Promise<void>((resolve) => (release = resolve))
    hookApi(rawConsumer(a), 'JoinGroup', (api) => (...args: unknown[]) => {
      if (!holding) return api(...args)
      const callback = args.at(-1) as (...result: unknown[]) => void
      api(...args.slice(0, -1), (...result: unknown[]) => {
        joinAnswered()
        void released.then(() => callback(...result))
      })
    })
    try {
      await leader.start()
      await a.start()
      await waitFor(
        () => a.ownedPartitions().size === 1 && leader.ownedPartitions().size === 2,
        60_000,
        'a to get one partition',
      )
      const mine = [...a.ownedPartitions()][0]!
      // a's batch stays open from here: a revocation would wait for it.
      const records: ConsumedRecord[] = []
      const deadline = Date.now() + 60_000
      while (records.length < 50) {
        if (Date.now() > deadline) throw new Error(`timed out reading ${mine}: ${records.length} records`)
        records.push(...(await a.poll({ maxRecords: 1000, lingerMs: 10, idleMs: 100 })))
      }
      holding = true
      // Its outcome is awaited below; until then a rejection must not go unhandled.
      const joined = c.start().then(
        () => undefined,
        (error: unknown) => error,
      )
      await answered // every member rejoined: the group is in the next generation, a does not know it yet
      // Before: the client answered ILLEGAL_GENERATION by joining the group again, which waited for the join
      // under way (held here; in a pipeline, waiting for this batch to finish): the commit never returned.
      let timer: NodeJS.Timeout | undefined
      const outcome = await Promise.race([
        a.commit(records),
        new Promise<'stuck'>((resolve) => (timer = setTimeout(() => resolve('stuck'), 60_000))),
      ])
      clearTimeout(timer)
      assert.equal(outcome, false, 'the commit returns, having committed nothing, while a rejoins')
      release()
      a.finishedBatch()
      const failed = await joined
      if (failed) throw failed
      await waitFor(
        () =>
          a.ownedPartitions().size === 1 &&
          leader.ownedPartitions().size === 1 &&
          c.ownedPartitions().size === 1,
        60_000,
        'the three members to share the partitions',
      )
      assert.deepEqual([...a.ownedPartitions()], [mine], 'a kept its partition (cooperative-sticky)')
      await waitFor(async () => await a.commit(records), 60_000, 'the commit to go through once a rejoined')
      const admin = new KafkaAdmin({ brokers: brokers() })
      try {
        const committed = await admin.committedOffsetsAndMetadata(groupId, topic)
        assert.equal(committed.get(Number(mine.split(':')[1]))?.offset, 50n)
      } finally {
        await admin.close()
      }
    } finally {
      release()
      await Promise.all([a.close(), leader.close(), c.close()])
    }
  })
})
