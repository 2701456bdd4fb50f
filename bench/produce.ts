/**
 * Produce and consume throughput of the clickstream producer:
 *
 *   node bench/produce.ts [--events 1000000] [--partitions 3] [--compression lz4] [--batch-size 2000]
 *
 * Uses the broker in $KAFKA_BROKERS, or starts a local one in a temporary directory (and stops it after).
 */
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { KafkaAdmin } from '../src/connectors/kafka/admin.ts'
import { KafkaConsumer } from '../src/connectors/kafka/consumer.ts'
import { COMPRESSIONS, type Compression } from '../src/connectors/kafka/records.ts'
import { startLocalKafka, stopLocalKafka } from '../src/local-kafka/cluster.ts'
import { produceClickstream } from '../src/producer/produce.ts'

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    partitions: { type: 'string', default: '3' },
    compression: { type: 'string', default: 'lz4' },
    'batch-size': { type: 'string', default: '2000' },
  },
})
const events = Number(values.events)
const partitions = Number(values.partitions)
const batchSize = Number(values['batch-size'])
const compression = values.compression as Compression
if (!(Number.isSafeInteger(events) && events > 0)) throw new Error(`--events: expected a positive number`)
if (!COMPRESSIONS.includes(compression))
  throw new Error(`--compression: expected one of ${COMPRESSIONS.join(', ')}`)

const mb = (bytes: number) => bytes / 1e6
const line = (what: string, count: number, bytes: number, ms: number) =>
  `${what.padEnd(8)} ${count} events in ${(ms / 1000).toFixed(2)} s: ${Math.round((count * 1000) / ms)} events/s, ${(
    (mb(bytes) * 1000) / ms
  ).toFixed(1)} MB/s (${mb(bytes).toFixed(1)} MB of keys and values)`

let dataDir: string | undefined
let brokers = process.env.KAFKA_BROKERS
if (!brokers) {
  dataDir = await mkdtemp(join(tmpdir(), 'sluice-bench-kafka-'))
  const cluster = await startLocalKafka({ port: 0, dataDir, log: (l) => process.stderr.write(`${l}\n`) })
  brokers = cluster.bootstrap
}
const topic = `bench-produce-${randomUUID().slice(0, 8)}`
try {
  process.stderr.write(
    `Producing ${events} events to ${topic} (${partitions} partitions, ${compression}, batches of ${batchSize}) on ${brokers}…\n`,
  )
  const produced = await produceClickstream({
    seed: 1,
    users: 100_000,
    startTime: Date.parse('2026-01-01T00:00:00Z'),
    count: events,
    rate: 0,
    batchSize,
    destination: { kind: 'kafka', brokers, topic, partitions, compression },
  })
  console.log(line('produce', produced.delivered, produced.bytes, produced.durationMs))

  const consumer = new KafkaConsumer({
    brokers,
    groupId: `bench-${topic}`,
    topics: [topic],
    start: { from: 'earliest' },
  })
  let consumed = 0
  let bytes = 0
  const started = performance.now()
  try {
    for await (const batch of consumer.batches({ maxRecords: 5000, lingerMs: 5, idleMs: 5000 })) {
      if (batch.length === 0) throw new Error(`no records for 5 s after ${consumed} of ${events}`)
      for (const r of batch) bytes += (r.value?.length ?? 0) + (r.key?.length ?? 0)
      consumed += batch.length
      if (consumed >= produced.delivered) break
    }
  } finally {
    await consumer.close()
  }
  console.log(line('consume', consumed, bytes, performance.now() - started))
} finally {
  if (dataDir) {
    await stopLocalKafka({ dataDir, graceMs: 20_000 })
    await rm(dataDir, { recursive: true, force: true })
  } else {
    const admin = new KafkaAdmin({ brokers })
    await admin.deleteTopics([topic]).finally(() => admin.close())
  }
}
