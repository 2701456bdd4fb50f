import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { z } from 'zod'
import { KafkaAdmin } from '../../src/connectors/kafka/admin.ts'
import { KafkaConsumer } from '../../src/connectors/kafka/consumer.ts'
import { KafkaProducer } from '../../src/connectors/kafka/producer.ts'
import { kafkaSink } from '../../src/connectors/kafka/sink.ts'
import { kafka } from '../../src/connectors/kafka/source.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { startLocalKafka, stopLocalKafka } from '../../src/local-kafka/cluster.ts'
import { type RunSummary, run } from '../../src/runtime/run.ts'

let dir: string | undefined
after(async () => {
  if (!dir) return
  await stopLocalKafka({ dataDir: join(dir, 'kafka'), graceMs: 10_000 })
  await rm(dir, { recursive: true, force: true })
})

test('a broker that goes away and comes back: the pipeline retries with backoff and loses nothing', async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-outage-'))
  const dataDir = join(dir, 'kafka')
  const { bootstrap } = await startLocalKafka({ port: 0, dataDir, heapMb: 256 })
  const admin = new KafkaAdmin({ brokers: bootstrap })
  await admin.createTopic('in', { partitions: 2 })
  await admin.createTopic('out', { partitions: 1 })
  await admin.close()
  const producer = new KafkaProducer({ brokers: bootstrap })
  const N = 20_000
  for (let i = 0; i < N; i += 2000) {
    await producer.send(
      Array.from({ length: 2000 }, (_, j) => ({
        topic: 'in',
        key: `k${i + j}`,
        value: JSON.stringify({ id: i + j }),
      })),
    )
  }
  await producer.close()

  const p = pipeline('outage')
    .from(kafka({ topics: 'in', brokers: bootstrap, instanceId: 'outage-0' }))
    .parse(z.object({ id: z.number() }))
    .to(kafkaSink({ topic: 'out', brokers: bootstrap }))
  const stop = new AbortController()
  let batches = 0
  let rowsIn = 0
  let resolveFirst: () => void = () => {}
  const firstBatches = new Promise<void>((resolve) => {
    resolveFirst = resolve
  })
  const running: Promise<RunSummary> = run(p, {
    checkpoint: join(dir, 'checkpoint'),
    // Slow enough that the outage falls in the middle of the input.
    trigger: { kind: 'processingTime', intervalMs: 250 },
    maxBatchRecords: 500,
    signal: stop.signal,
    onProgress: (progress) => {
      batches++
      rowsIn += progress.inputRows
      if (batches === 5) resolveFirst()
    },
  })
  await firstBatches
  const rowsBeforeOutage = rowsIn
  await stopLocalKafka({ dataDir, graceMs: 10_000 })
  await new Promise((r) => setTimeout(r, 3000))
  await startLocalKafka({ dataDir, heapMb: 256 })

  const reader = new KafkaConsumer({
    brokers: bootstrap,
    groupId: 'outage-check',
    topics: ['out'],
    start: { from: 'earliest' },
  })
  const ids: number[] = []
  try {
    for await (const batch of reader.batches({
      maxRecords: 5000,
      lingerMs: 50,
      idleMs: 1000,
      signal: AbortSignal.timeout(90_000),
    })) {
      for (const r of batch) ids.push((JSON.parse(r.value!.toString()) as { id: number }).id)
      if (ids.length >= N) break
    }
  } finally {
    await reader.close()
  }
  stop.abort()
  const summary = await running
  assert.ok(
    rowsBeforeOutage < N / 2,
    `the outage came in the middle of the input (${rowsBeforeOutage} rows before)`,
  )
  // The clients' own retries or a restart from the checkpoint (summary.restarts) carried it through;
  // a replayed batch is read twice, so the input count can exceed N, the output never.
  assert.ok(summary.inputRows >= N, `read ${summary.inputRows} rows, restarted ${summary.restarts} times`)
  assert.equal(ids.length, N)
  assert.equal(new Set(ids).size, N, 'no duplicates')
})
