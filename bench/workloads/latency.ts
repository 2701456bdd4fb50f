/**
 * End-to-end latency of the etl pipeline (a) at a fixed input rate.
 *
 * This process is the outside world: it produces clickstream events to a fresh topic at `rate` events/s and
 * reads the pipeline's output topic with read_committed. The pipeline runs in its own process
 * (latency-pipeline.ts) with the continuous or the 1 s processing-time trigger. A sample is
 *
 *   (when this process sees the output row, i.e. after its transaction committed)
 *   − (when this process handed the input event to the producer)
 *
 * both read from this process's performance.now(), matched by event_id. The first `warmupMs` of events are
 * produced but not counted; malformed events (dead letters) have no output row and are not counted either.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { ClickstreamGenerator } from '../../src/clickstream/generator.ts'
import { KafkaAdmin } from '../../src/connectors/kafka/admin.ts'
import { KafkaConsumer } from '../../src/connectors/kafka/consumer.ts'
import { KafkaProducer } from '../../src/connectors/kafka/producer.ts'
import type { OutgoingRecord } from '../../src/connectors/kafka/records.ts'
import { maxRssMB, mb, runWorkload, Stopwatch } from '../lib/child.ts'
import { CLICKSTREAM, latencyName } from '../lib/config.ts'
import { LatencyHistogram } from '../lib/latency.ts'
import { startChild, workloadScript } from '../lib/spawn.ts'

const EVENT_ID_PREFIX = '{"schema_version":1,"event_id":"'

/** The event id of a clickstream record, read from its first bytes (the generator's field order). */
function inputEventId(value: Buffer): string {
  if (value.toString('latin1', 0, EVENT_ID_PREFIX.length) === EVENT_ID_PREFIX) {
    return value.toString('latin1', EVENT_ID_PREFIX.length, EVENT_ID_PREFIX.length + 36)
  }
  return (JSON.parse(value.toString()) as { event_id: string }).event_id
}

interface Sent {
  readonly at: number
  readonly measured: boolean
}

runWorkload(async (config) => {
  const trigger = config.trigger ?? 'continuous'
  const name = latencyName(trigger)
  const rate = config.rate ?? 20_000
  const durationMs = config.durationMs ?? 30_000
  const warmupMs = config.warmupMs ?? 5_000
  const runId = `${config.runId}-${name}`
  const input = `${runId}-in`
  // Without a pipeline the verifier reads the input topic itself.
  const output = trigger === 'none' ? input : `${runId}-out`
  const notes: string[] = []
  const watch = new Stopwatch()

  const admin = new KafkaAdmin({ brokers: config.brokers })
  try {
    await admin.createTopic(input, { partitions: CLICKSTREAM.partitions })
    if (output !== input) await admin.createTopic(output, { partitions: CLICKSTREAM.partitions })
  } finally {
    await admin.close()
  }

  const pipelineChild =
    trigger === 'none'
      ? undefined
      : startChild(
          workloadScript('latency-pipeline'),
          { ...config, runId, inputTopic: input, inputRecords: 0, inputBytes: 0, trigger },
          {
            timeoutMs: durationMs + 240_000,
            label: `pipeline ${trigger}`,
            verbose: process.env.BENCH_VERBOSE === '1',
          },
        )
  let pipelineExited = false
  void pipelineChild?.done.then(() => {
    pipelineExited = true
  })

  // Events in flight, by event id: when they were handed to the producer and whether they count.
  const pending = new Map<string, Sent>()
  const histogram = new LatencyHistogram()
  let seen = 0
  let pendingMeasured = 0
  const verifyStop = new AbortController()
  const verifier = new KafkaConsumer({
    brokers: config.brokers,
    groupId: `${runId}-verify`,
    topics: [output],
    start: { from: 'earliest' },
    readCommitted: true,
    maxWaitTime: 20,
  })
  const verifying = (async () => {
    for await (const batch of verifier.batches({
      maxRecords: 10_000,
      lingerMs: 0,
      idleMs: 200,
      signal: verifyStop.signal,
    })) {
      const now = performance.now()
      for (const record of batch) {
        if (!record.value) continue
        const id =
          trigger === 'none'
            ? inputEventId(record.value)
            : (JSON.parse(record.value.toString()) as { event_id: string }).event_id
        const sent = pending.get(id)
        if (!sent) continue
        pending.delete(id)
        seen++
        if (sent.measured) {
          histogram.record(now - sent.at)
          pendingMeasured--
        }
      }
    }
  })()

  const producer = new KafkaProducer({ brokers: config.brokers, clientId: 'bench-latency-producer' })
  const generator = new ClickstreamGenerator({ ...CLICKSTREAM, seed: 2 })
  const inFlight = new Set<Promise<unknown>>()
  const send = async (count: number, measured: boolean): Promise<number> => {
    while (inFlight.size >= 8) await Promise.race(inFlight)
    const records: OutgoingRecord[] = []
    const at = performance.now()
    const timestamp = Date.now()
    let good = 0
    for (let i = 0; i < count; i++) {
      const r = generator.next()
      records.push({ topic: input, key: r.key, value: r.value, timestamp })
      if (r.injected === undefined) {
        pending.set(inputEventId(r.value), { at, measured })
        good++
        if (measured) pendingMeasured++
      }
    }
    const sending = producer.send(records)
    const tracked = sending.finally(() => inFlight.delete(tracked))
    inFlight.add(tracked)
    return good
  }

  let produced = 0
  let measuredGood = 0
  let elapsed = 0
  try {
    // Ready: the whole path (producer, pipeline group join, transactions, verifier) has carried events.
    const warmGood = await send(200, false)
    const readyBy = performance.now() + 120_000
    while (seen < warmGood) {
      if (pipelineExited) throw new Error('the pipeline process exited before it was ready')
      if (performance.now() > readyBy)
        throw new Error(`the pipeline carried ${seen}/${warmGood} events in 120 s`)
      await sleep(50)
    }

    // Produce at the rate: every tick, the events due by now (at most a tenth of a second's worth at once).
    const start = performance.now()
    const maxChunk = Math.max(1, Math.round(rate / 10))
    for (;;) {
      const now = performance.now()
      elapsed = now - start
      if (elapsed >= durationMs) break
      if (pipelineExited) throw new Error('the pipeline process exited while events were produced')
      const due = Math.floor((elapsed * rate) / 1000) - produced
      if (due > 0) {
        const n = Math.min(due, maxChunk)
        const measured = elapsed >= warmupMs
        const good = await send(n, measured)
        produced += n
        if (measured) measuredGood += good
      }
      await sleep(1)
    }
    await Promise.all(inFlight)

    // Drain: wait for the last events to come out.
    const drainBy = performance.now() + 20_000
    while (pendingMeasured > 0 && performance.now() < drainBy) await sleep(50)
  } finally {
    pipelineChild?.stop()
    verifyStop.abort()
    await verifying.catch(() => {})
    await verifier.close()
    await producer.close()
  }
  if (pendingMeasured > 0)
    notes.push(`${pendingMeasured} measured events were not in the output 20 s after producing stopped`)
  const p = histogram.percentiles()
  const latency = {
    trigger,
    rate,
    produced: measuredGood,
    measured: p.count,
    achievedRate: Math.round(produced / (elapsed / 1000)),
    p50: p.p50,
    p90: p.p90,
    p99: p.p99,
    p999: p.p999,
    max: p.max,
    mean: p.mean,
    method: histogram.method,
  }
  if (!pipelineChild) {
    // The floor: this process alone (producer and consumer), no pipeline.
    const cpu = watch.cpu()
    return {
      workload: name,
      events: produced,
      bytes: 0,
      outputRows: 0,
      deadLettered: 0,
      seconds: watch.elapsed() / 1000,
      startupSeconds: 0,
      batches: 0,
      cpuUserSeconds: cpu.user,
      cpuSystemSeconds: cpu.system,
      maxRssMB: maxRssMB(),
      heapUsedMBAtEnd: mb(process.memoryUsage().heapUsed),
      latency,
      notes: [
        ...notes,
        'no pipeline: producer and read_committed consumer of the input topic in one process',
      ],
    }
  }
  const outcome = await pipelineChild.done
  const pipeline = outcome.result
  if (!pipeline) {
    throw new Error(
      `the pipeline process ended without a result (exit ${outcome.exitCode ?? outcome.signal}): ${outcome.stderrTail}`,
    )
  }
  notes.push(`driver process (producer + verifier) peak RSS ${maxRssMB()} MB`)
  const own = process.cpuUsage()
  // events, seconds, CPU and RSS are the pipeline process's, over its whole life (warm-up and drain included).
  return {
    workload: name,
    events: pipeline.events,
    bytes: 0,
    outputRows: pipeline.outputRows,
    deadLettered: pipeline.deadLettered,
    seconds: pipeline.seconds,
    startupSeconds: pipeline.startupSeconds,
    batches: pipeline.batches,
    cpuUserSeconds: pipeline.cpuUserSeconds,
    cpuSystemSeconds: pipeline.cpuSystemSeconds,
    processCpuSeconds: (own.user + own.system) / 1e6 + (pipeline.processCpuSeconds ?? 0),
    maxRssMB: pipeline.maxRssMB,
    heapUsedMBAtEnd: pipeline.heapUsedMBAtEnd,
    ...(pipeline.phases ? { phases: pipeline.phases } : {}),
    ...(pipeline.batchLog ? { batchLog: pipeline.batchLog } : {}),
    latency,
    notes: [...notes, ...(pipeline.notes ?? [])],
  }
})
