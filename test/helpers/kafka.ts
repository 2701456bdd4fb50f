import { randomUUID } from 'node:crypto'
import { KafkaAdmin } from '../../src/connectors/kafka/admin.ts'

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

export function uniqueGroup(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`
}
