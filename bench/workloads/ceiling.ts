/**
 * The ceiling: the bare Kafka client (Sluice's KafkaConsumer, as the kafka() source uses it) reading the whole
 * input topic with no processing, no sink and no commits. Same poll sizes as the engine's batches.
 */
import { KafkaConsumer } from '../../src/connectors/kafka/consumer.ts'
import { maxRssMB, mb, runWorkload, Stopwatch } from '../lib/child.ts'

runWorkload(async (config) => {
  const watch = new Stopwatch()
  const consumer = new KafkaConsumer({
    brokers: config.brokers,
    groupId: `${config.runId}-ceiling`,
    topics: [config.inputTopic],
    start: { from: 'earliest' },
  })
  let events = 0
  let bytes = 0
  let batches = 0
  let firstAt: number | undefined
  let lastAt = 0
  try {
    for await (const batch of consumer.batches({
      maxRecords: config.maxBatchRecords,
      lingerMs: config.lingerMs ?? 20,
      idleMs: 10_000,
    })) {
      if (batch.length === 0) throw new Error(`no records for 10 s after ${events} of ${config.inputRecords}`)
      firstAt ??= performance.now()
      batches++
      for (const r of batch) bytes += (r.value?.length ?? 0) + (r.key?.length ?? 0)
      events += batch.length
      lastAt = performance.now()
      if (events >= config.inputRecords) break
    }
  } finally {
    await consumer.close()
  }
  const cpu = watch.cpu()
  return {
    workload: 'ceiling',
    events,
    bytes,
    outputRows: 0,
    deadLettered: 0,
    seconds: (lastAt - watch.startedAt) / 1000,
    startupSeconds: ((firstAt ?? lastAt) - watch.startedAt) / 1000,
    batches,
    cpuUserSeconds: cpu.user,
    cpuSystemSeconds: cpu.system,
    maxRssMB: maxRssMB(),
    heapUsedMBAtEnd: mb(process.memoryUsage().heapUsed),
  }
})
