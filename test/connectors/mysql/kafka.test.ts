import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { KafkaAdmin } from '../../../src/connectors/kafka/admin.ts'
import { KafkaProducer } from '../../../src/connectors/kafka/producer.ts'
import { kafka } from '../../../src/connectors/kafka/source.ts'
import { mysql } from '../../../src/connectors/mysql/index.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { run } from '../../../src/runtime/run.ts'
import { freshTopic, uniqueGroup } from '../../helpers/kafka.ts'
import { Order, order } from './fixtures/crash-pipeline.ts'
import { useMariaDb } from './util.ts'

const db = useMariaDb()

describe('mysql sink with a Kafka source', () => {
  test("the consumer group's offsets follow the batches the database committed", async (t) => {
    if (!process.env.KAFKA_BROKERS) return t.skip('needs the suite broker (npm test) or KAFKA_BROKERS')
    const brokers = process.env.KAFKA_BROKERS
    const topic = await freshTopic('mysql-in', 3)
    const producer = new KafkaProducer({ brokers })
    try {
      await producer.send(
        Array.from({ length: 3000 }, (_, i) => ({ topic, key: `k${i}`, value: JSON.stringify(order(i)) })),
      )
    } finally {
      await producer.close()
    }
    const groupId = uniqueGroup('mysql-sink')
    const summary = await run(
      pipeline('mysql-from-kafka')
        .from(kafka({ brokers, topics: topic, groupId, startingOffsets: 'earliest' }))
        .parse(Order)
        .to(mysql<Order>({ url: db.server.url, table: 'from_kafka', createTable: true })),
      { checkpoint: await db.checkpoint(), trigger: { kind: 'availableNow' }, maxBatchRecords: 500 },
    )
    assert.equal(summary.inputRows, 3000)
    const [count] = await db.query<{ n: number; ids: number }>(
      'SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS ids FROM from_kafka',
    )
    assert.deepEqual(count, { n: 3000, ids: 3000 })

    const admin = new KafkaAdmin({ brokers })
    const group: Record<string, number> = {}
    try {
      for (const [partition, offset] of await admin.committedOffsets(groupId, topic))
        group[`${topic}:${partition}`] = Number(offset)
    } finally {
      await admin.close()
    }
    // A stateless pipeline from Kafka can scale out (scaleOut, the default): a position per partition.
    const rows = await db.query<{ partition: string; position: number }>(
      "SELECT `partition`, position FROM sluice_offsets_partitions WHERE pipeline_id = 'mysql-from-kafka'",
    )
    assert.deepEqual(group, Object.fromEntries(rows.map((r) => [r.partition, Number(r.position)])))
    assert.equal(
      Object.values(group).reduce((a, b) => a + b, 0),
      3000,
    )
  })
})
