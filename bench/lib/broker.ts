/** The benchmark's broker (its own, or the one in $KAFKA_BROKERS) and the input topics it loads. */

import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Admin } from '@platformatic/kafka'
import { KafkaAdmin } from '../../src/connectors/kafka/admin.ts'
import { KafkaProducer } from '../../src/connectors/kafka/producer.ts'
import type { OutgoingRecord } from '../../src/connectors/kafka/records.ts'
import { startLocalKafka, stopLocalKafka } from '../../src/local-kafka/cluster.ts'
import { produceClickstream } from '../../src/producer/produce.ts'
import type { RecordEncoder } from '../../src/producer/registry-encoding.ts'
import { CLICKSTREAM } from './config.ts'

export interface BenchBroker {
  readonly brokers: string
  /** The broker JVM's pid when the benchmark started it (to measure its CPU time). */
  readonly pid: number | undefined
  /** True when the benchmark started the broker (and stops it). */
  readonly own: boolean
  /** Stops our broker and deletes its data, or deletes the topics we created on someone else's. */
  stop(createdTopicsPrefix: string): Promise<void>
}

/** Stops a broker whose start is under way (the driver was interrupted before startBroker() returned). */
let starting: (() => Promise<void>) | undefined
export async function abortBrokerStart(): Promise<void> {
  await starting?.()
}

export async function startBroker(log: (line: string) => void): Promise<BenchBroker> {
  const external = process.env.KAFKA_BROKERS
  if (external) {
    return {
      brokers: external,
      pid: undefined,
      own: false,
      async stop(prefix) {
        // Our topics only: every name the run created starts with its run id.
        const topics = await listTopics(external, prefix)
        const admin = new KafkaAdmin({ brokers: external })
        try {
          await admin.deleteTopics(topics)
        } finally {
          await admin.close()
        }
      },
    }
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'sluice-bench-kafka-'))
  let stopped = false
  const stop = async () => {
    if (stopped) return
    stopped = true
    await stopLocalKafka({ dataDir, graceMs: 20_000 })
    await rm(dataDir, { recursive: true, force: true })
  }
  starting = stop
  try {
    // A bigger heap than the default 512 MB: the broker keeps up with several GB of traffic per run.
    const cluster = await startLocalKafka({ port: 0, dataDir, heapMb: 1024, log })
    return { brokers: cluster.bootstrap, pid: cluster.nodes[0]?.pid ?? undefined, own: true, stop }
  } catch (error) {
    await stop()
    throw error
  } finally {
    starting = undefined
  }
}

/** Topics whose name starts with `prefix` (KafkaAdmin has no listing method: ask the client's Admin). */
async function listTopics(brokers: string, prefix: string): Promise<string[]> {
  const admin = new Admin({ clientId: 'bench-cleanup', bootstrapBrokers: brokers.split(',') })
  try {
    const topics = await admin.listTopics({ includeInternals: false })
    return topics.filter((t) => t.startsWith(prefix))
  } finally {
    await admin.close()
  }
}

export interface LoadResult {
  readonly records: number
  readonly bytes: number
  readonly seconds: number
  readonly bad: number
}

/**
 * Produces `count` clickstream events (deterministic, about 0.5 % malformed) to a new topic; with `encode`,
 * re-encoded (e.g. into Avro in the Confluent wire format).
 */
export async function loadClickstream(
  brokers: string,
  topic: string,
  count: number,
  encode?: RecordEncoder,
): Promise<LoadResult> {
  const summary = await produceClickstream({
    ...(encode ? { encode } : {}),
    seed: CLICKSTREAM.seed,
    users: CLICKSTREAM.users,
    startTime: CLICKSTREAM.startTime,
    bad: CLICKSTREAM.bad,
    count,
    rate: 0,
    destination: {
      kind: 'kafka',
      brokers,
      topic,
      partitions: CLICKSTREAM.partitions,
      compression: CLICKSTREAM.compression,
    },
  })
  if (summary.delivered !== count)
    throw new Error(`loading ${topic}: ${summary.delivered} of ${count} events delivered`)
  return {
    records: summary.delivered,
    bytes: summary.bytes,
    seconds: summary.durationMs / 1000,
    bad: summary.bad,
  }
}

/**
 * Produces `count` small records, each with its own key ("k-0000001" …), all within the first minutes of
 * the clickstream's start time: the `state` workload's input.
 */
export async function loadStateTopic(brokers: string, topic: string, count: number): Promise<LoadResult> {
  const admin = new KafkaAdmin({ brokers })
  try {
    await admin.createTopic(topic, { partitions: CLICKSTREAM.partitions })
  } finally {
    await admin.close()
  }
  const producer = new KafkaProducer({ brokers, clientId: 'bench-load-state', compression: 'lz4' })
  const started = performance.now()
  let bytes = 0
  const inFlight = new Set<Promise<unknown>>()
  try {
    for (let i = 0; i < count; i += 5000) {
      const records: OutgoingRecord[] = []
      for (let j = i; j < Math.min(count, i + 5000); j++) {
        const k = `k-${String(j).padStart(7, '0')}`
        const value = JSON.stringify({ k, v: j % 100, t: CLICKSTREAM.startTime + j })
        bytes += k.length + value.length
        records.push({ topic, key: k, value })
      }
      while (inFlight.size >= 4) await Promise.race(inFlight)
      const tracked: Promise<unknown> = producer.send(records).finally(() => inFlight.delete(tracked))
      inFlight.add(tracked)
    }
    await Promise.all(inFlight)
  } finally {
    await producer.close()
  }
  return { records: count, bytes, seconds: (performance.now() - started) / 1000, bad: 0 }
}
