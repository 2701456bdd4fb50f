import { randomUUID } from 'node:crypto'
import { KafkaAdmin } from '../../src/connectors/kafka/admin.ts'
import { KafkaConsumer } from '../../src/connectors/kafka/consumer.ts'
import type { ConsumedRecord } from '../../src/connectors/kafka/records.ts'

/** The broker the global setup started (or the one KAFKA_BROKERS names). */
export function brokers(): string {
  const value = process.env.KAFKA_BROKERS
  if (!value)
    throw new Error(
      'KAFKA_BROKERS is not set: run the tests through npm test (test/global-setup.ts starts a broker).',
    )
  return value
}

/** A fresh topic with a unique name, so tests never see each other's records. */
export async function freshTopic(prefix: string, partitions = 1): Promise<string> {
  const topic = `${prefix}-${randomUUID().slice(0, 8)}`
  const admin = new KafkaAdmin({ brokers: brokers() })
  try {
    await admin.createTopic(topic, { partitions })
  } finally {
    await admin.close()
  }
  return topic
}

/** The sum of a topic's end offsets: how many records it holds (no transactions, no compaction). */
export async function endOffsetsSum(topic: string, bootstrap = brokers()): Promise<number> {
  const admin = new KafkaAdmin({ brokers: bootstrap })
  try {
    return [...(await admin.offsets(topic)).values()].reduce((sum, o) => sum + Number(o), 0)
  } finally {
    await admin.close()
  }
}

export async function topicExists(topic: string): Promise<boolean> {
  const admin = new KafkaAdmin({ brokers: brokers() })
  try {
    return (await admin.partitionCount(topic)) !== undefined
  } finally {
    await admin.close()
  }
}

export function uniqueGroup(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`
}

/**
 * The records on `topic` in partition order, read (committed only) from the beginning by a fresh group until
 * there are `n` of them; throws when they do not come within `timeoutMs`.
 */
export async function readRecords(topic: string, n: number, timeoutMs = 30_000): Promise<ConsumedRecord[]> {
  const consumer = new KafkaConsumer({
    brokers: brokers(),
    groupId: uniqueGroup('read'),
    topics: [topic],
    start: { from: 'earliest' },
  })
  const seen: ConsumedRecord[] = []
  try {
    const signal = AbortSignal.timeout(timeoutMs)
    for await (const batch of consumer.batches({ maxRecords: 5000, lingerMs: 20, idleMs: 200, signal })) {
      seen.push(...batch)
      if (seen.length >= n) break
    }
  } finally {
    await consumer.close()
  }
  if (seen.length < n) throw new Error(`read ${seen.length} of ${n} records from ${topic}`)
  return seen.sort((a, b) => a.partition - b.partition || Number(a.offset - b.offset))
}

/**
 * Everything committed on `topic`, read from the beginning until there are at least `n` records and then
 * nothing more for two polls (so that records written twice are seen too), or quiet for six polls.
 */
export async function readUntilQuiet(
  topic: string,
  n: number,
  timeoutMs = 60_000,
): Promise<ConsumedRecord[]> {
  const consumer = new KafkaConsumer({
    brokers: brokers(),
    groupId: uniqueGroup('read-all'),
    topics: [topic],
    start: { from: 'earliest' },
  })
  const out: ConsumedRecord[] = []
  try {
    let quiet = 0
    const signal = AbortSignal.timeout(timeoutMs)
    for await (const batch of consumer.batches({ maxRecords: 10_000, lingerMs: 50, idleMs: 500, signal })) {
      out.push(...batch)
      quiet = batch.length === 0 ? quiet + 1 : 0
      if ((out.length >= n && quiet >= 2) || quiet >= 6) break
    }
  } finally {
    await consumer.close()
  }
  return out
}
