import assert from 'node:assert/strict'
import { test } from 'node:test'
import { KafkaAdmin } from '../../src/connectors/kafka/admin.ts'
import { KafkaConsumer } from '../../src/connectors/kafka/consumer.ts'
import { KafkaProducer } from '../../src/connectors/kafka/producer.ts'
import type { ConsumedRecord } from '../../src/connectors/kafka/records.ts'
import { brokers, freshTopic, uniqueGroup } from '../helpers/kafka.ts'

/**
 * A consumer's commit of its progress (the group offsets a sink that keeps its own positions commits for lag
 * tools, and from which a member that rejoins goes on) lands, for a lone member of either rebalance protocol.
 */
for (const cooperative of [false, true]) {
  test(`a ${cooperative ? 'cooperative' : 'lone eager'} member's progress commit lands in the group`, async () => {
    const topic = await freshTopic('progress-commit', 2)
    const producer = new KafkaProducer({ brokers: brokers() })
    try {
      const records = []
      for (let p = 0; p < 2; p++)
        for (let i = 0; i < 30; i++) records.push({ topic, partition: p, value: `${i}` })
      await producer.send(records)
    } finally {
      await producer.close()
    }
    const groupId = uniqueGroup('progress-commit')
    const consumer = new KafkaConsumer({ brokers: brokers(), groupId, topics: [topic], cooperative })
    try {
      const read: ConsumedRecord[] = []
      const deadline = Date.now() + 60_000
      while (read.length < 60) {
        if (Date.now() > deadline) throw new Error(`timed out reading: ${read.length} records`)
        read.push(...(await consumer.poll({ maxRecords: 1000, lingerMs: 10, idleMs: 100 })))
      }
      assert.equal(await consumer.commit(read), true)
      consumer.finishedBatch()
      const admin = new KafkaAdmin({ brokers: brokers() })
      try {
        const committed = await admin.committedOffsetsAndMetadata(groupId, topic)
        assert.deepEqual(
          [0, 1].map((p) => committed.get(p)?.offset),
          [30n, 30n],
        )
      } finally {
        await admin.close()
      }
    } finally {
      await consumer.close()
    }
  })
}
