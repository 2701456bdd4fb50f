/**
 * Enrichment: the etl pipeline (a) with a stream–table join against a 100 000-row user table held in memory
 * (every clickstream user has a row), to a Kafka topic exactly-once.
 */
import { kafkaSink } from '../../src/connectors/kafka/sink.ts'
import { kafka } from '../../src/connectors/kafka/source.ts'
import { staticTable } from '../../src/connectors/tables/static-table.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { measureBacklog, runWorkload } from '../lib/child.ts'
import { CLICKSTREAM } from '../lib/config.ts'
import { project } from '../lib/pipelines.ts'
import { clickEventSchema } from '../lib/schema.ts'

interface User {
  readonly user_id: string
  readonly segment: string
  readonly signup_year: number
  readonly lifetime_value: number
}

const SEGMENTS = ['new', 'casual', 'regular', 'loyal', 'vip']

/** One row per simulated user (`u-000000` …), deterministic. */
function users(n: number): User[] {
  return Array.from({ length: n }, (_, i) => ({
    user_id: `u-${String(i).padStart(6, '0')}`,
    segment: SEGMENTS[(i * 7919) % SEGMENTS.length]!,
    signup_year: 2015 + (i % 11),
    lifetime_value: ((i * 104729) % 100_000) / 100,
  }))
}

runWorkload((config) => {
  const table = staticTable('users', users(CLICKSTREAM.users), (u) => u.user_id)
  return measureBacklog(
    'join',
    pipeline(`${config.runId}-join`)
      .from(kafka({ topics: config.inputTopic, brokers: config.brokers, startingOffsets: 'earliest' }))
      .parse(clickEventSchema)
      .join(
        table,
        (e) => e.user_id,
        (e, u) => ({ ...project(e), segment: u.segment, signup_year: u.signup_year, ltv: u.lifetime_value }),
      )
      .to(
        kafkaSink({
          topic: `${config.runId}-join-out`,
          brokers: config.brokers,
          deadLetterTopic: `${config.runId}-join-dlq`,
          createPartitions: CLICKSTREAM.partitions,
          key: (r) => r.user_id,
        }),
      ),
    config,
    { records: config.inputRecords, bytes: config.inputBytes },
  )
})
