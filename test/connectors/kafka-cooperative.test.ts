import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { KafkaConsumer } from '../../src/connectors/kafka/consumer.ts'
import { KafkaProducer } from '../../src/connectors/kafka/producer.ts'
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

function member(groupId: string, topic: string): KafkaConsumer {
  return new KafkaConsumer({ brokers: brokers(), groupId, topics: [topic], cooperative: true })
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
      await b.start()
      await waitFor(
        () => a.ownedPartitions().size === 1 && b.ownedPartitions().size === 1,
        60_000,
        'the partitions to be shared',
      )
      const moved = [...b.ownedPartitions()][0]!
      // b leaves without committing: the partition goes back to a, which must read it again from offset 0.
      await b.close()
      const again = await pollUntil(
        a,
        (r) => r.filter((m) => `${m.topic}:${m.partition}` === moved).length >= 100,
        `a to read ${moved} again`,
      )
      const offsets = again.filter((m) => `${m.topic}:${m.partition}` === moved).map((m) => Number(m.offset))
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
})
