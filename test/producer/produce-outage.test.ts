import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { KafkaConsumer } from '../../src/connectors/kafka/consumer.ts'
import { type LocalKafka, startLocalKafka, stopLocalKafka } from '../../src/local-kafka/cluster.ts'
import { isOurProcess } from '../../src/local-kafka/process.ts'
import { endOffsetsSum } from '../helpers/kafka.ts'
import { waitFor } from '../helpers/wait.ts'
import { Sluice } from './cli.ts'

/**
 * `sluice produce` through a broker outage: the producer retries each batch (same sequence numbers, so the
 * idempotent producer writes it once) for up to --delivery-timeout; the summary's count is exactly what a
 * reader then finds. Each test runs its own cluster, which it kills and restarts.
 */

const SUMMARY =
  /^Produced (\d+) events to (\S+) in [\d.]+ s \(\d+ events\/s, [\d.]+ MB\/s\): \d+ bad, \d+ late, \d+ duplicates(?:; (\d+) sent but not acknowledged)?\.$/m

const dirs: string[] = []
after(async () => {
  for (const dir of dirs) {
    await stopLocalKafka({ dataDir: join(dir, 'kafka'), graceMs: 10_000 }).catch(() => {})
    await rm(dir, { recursive: true, force: true })
  }
})

async function cluster(nodes: 1 | 3): Promise<LocalKafka> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-produce-outage-'))
  dirs.push(dir)
  return startLocalKafka({ port: 0, nodes, dataDir: join(dir, 'kafka'), heapMb: 256 })
}

/** Waits until the topic holds `n` records: the producer is well under way. */
function underWay(bootstrap: string, topic: string, n: number, run: Sluice): Promise<void> {
  return waitFor(
    async () => {
      if (run.child.exitCode !== null) throw new Error(`sluice exited early:\n${run.stderr}`)
      return (await endOffsetsSum(topic, bootstrap).catch(() => 0)) >= n
    },
    60_000,
    `${n} records on ${topic}`,
  )
}

/** The event ids on the topic, read to its end. */
async function eventIds(bootstrap: string, topic: string, n: number): Promise<string[]> {
  const consumer = new KafkaConsumer({ brokers: bootstrap, groupId: `check-${topic}`, topics: [topic] })
  const ids: string[] = []
  try {
    for await (const batch of consumer.batches({
      maxRecords: 5000,
      lingerMs: 20,
      idleMs: 500,
      signal: AbortSignal.timeout(60_000),
    })) {
      for (const r of batch) ids.push((JSON.parse(r.value!.toString()) as { event_id: string }).event_id)
      if (ids.length >= n) break
    }
  } finally {
    await consumer.close()
  }
  return ids
}

function killNode(node: { pid: number | null; dir: string }): void {
  if (node.pid !== null && isOurProcess(node.pid, node.dir)) process.kill(node.pid, 'SIGKILL')
}

/** Cluster starts and restarts take seconds each, more on a loaded machine: room beyond the default 120 s. */
const SLOW = { timeout: 300_000 }

describe('sluice produce through a broker outage', () => {
  /** The single broker of the first two tests (the first leaves it running). */
  let single: LocalKafka | undefined

  test(
    'the only broker killed mid-produce and back within the delivery timeout: every event once, the count exact',
    SLOW,
    async () => {
      const kafka = await cluster(1)
      single = kafka
      const topic = 'outage'
      const N = 15_000
      const run = new Sluice([
        'produce',
        '--brokers',
        kafka.bootstrap,
        '--topic',
        topic,
        '--partitions',
        '3',
        '--count',
        String(N),
        '--rate',
        '3000',
        '--seed',
        '5',
      ])
      try {
        await underWay(kafka.bootstrap, topic, 3000, run)
        // SIGKILL, no controlled shutdown: batches in flight are lost with their acknowledgements.
        await stopLocalKafka({ dataDir: kafka.dataDir, graceMs: 0 })
        await run.waitForStderr(/Kafka is not acknowledging/)
        await startLocalKafka({ dataDir: kafka.dataDir, heapMb: 256 })
        const finished = await run.exited
        assert.equal(finished.code, 0, finished.stderr)
        assert.match(finished.stderr, /Kafka acknowledges again after [\d.]+ s of retrying\./)
        const summary = SUMMARY.exec(finished.stderr)
        assert.ok(summary, finished.stderr)
        assert.equal(Number(summary[1]), N)
        assert.equal(summary[3], undefined, 'nothing unacknowledged')
      } finally {
        run.kill()
      }
      assert.equal(
        await endOffsetsSum(topic, kafka.bootstrap),
        N,
        'the topic holds exactly the count delivered',
      )
      const ids = await eventIds(kafka.bootstrap, topic, N)
      assert.equal(ids.length, N)
      assert.equal(new Set(ids).size, N, 'no event twice: retries kept their sequence numbers')
    },
  )

  test(
    'a broker that stays down: exit 1 after the delivery timeout, with the count delivered',
    SLOW,
    async () => {
      const kafka = single ?? (await cluster(1))
      const topic = 'down'
      const run = new Sluice([
        'produce',
        '--brokers',
        kafka.bootstrap,
        '--topic',
        topic,
        '--rate',
        '3000',
        '--seed',
        '6',
        '--delivery-timeout',
        '5s',
      ])
      let delivered: number
      let unacknowledged: number
      try {
        await underWay(kafka.bootstrap, topic, 3000, run)
        await stopLocalKafka({ dataDir: kafka.dataDir, graceMs: 0 })
        const finished = await run.exited
        assert.equal(finished.code, 1, finished.stderr)
        assert.match(finished.stderr, /retrying for up to 5s \(--delivery-timeout\)/)
        const summary = SUMMARY.exec(finished.stderr)
        assert.ok(summary, finished.stderr)
        delivered = Number(summary[1])
        unacknowledged = Number(summary[3] ?? 0)
        assert.match(
          finished.stderr.trimEnd().split('\n').at(-1)!,
          /^sluice: Producing to down stopped: Kafka did not acknowledge records within the delivery timeout \(5s\); the last error: .*ECONNREFUSED/,
        )
      } finally {
        run.kill()
      }
      // Back up: what Kafka acknowledged is there, plus at most what was in flight (written, the answer lost).
      await startLocalKafka({ dataDir: kafka.dataDir, heapMb: 256 })
      const held = await endOffsetsSum(topic, kafka.bootstrap)
      assert.ok(delivered >= 3000, `${delivered} delivered`)
      assert.ok(
        held >= delivered && held <= delivered + unacknowledged,
        `the topic holds ${held}: ${delivered} delivered, ${unacknowledged} unacknowledged`,
      )
    },
  )

  // TODO (open defect, issue 12 item 6): one full-suite run of three found 15,285 records in the topic for
  // 15,000 reported delivered (the idempotent producer's retries across the leader change wrote some twice,
  // or the log kept records of an unacknowledged batch). Still runs and reports; fix, then drop the todo.
  test('one node of three killed mid-produce: nothing lost, nothing twice, the count exact', {
    ...SLOW,
    todo: 'seen once: 285 records more in the log than reported delivered',
  }, async () => {
    if (single) await stopLocalKafka({ dataDir: single.dataDir, graceMs: 10_000 })
    const kafka = await cluster(3)
    const topic = 'one-down'
    const N = 15_000
    const run = new Sluice([
      'produce',
      '--brokers',
      kafka.bootstrap,
      '--topic',
      topic,
      '--partitions',
      '3',
      '--count',
      String(N),
      '--rate',
      '3000',
      '--seed',
      '7',
    ])
    try {
      await underWay(kafka.bootstrap, topic, 3000, run)
      killNode(kafka.nodes[1]!)
      const finished = await run.exited
      assert.equal(finished.code, 0, finished.stderr)
      const summary = SUMMARY.exec(finished.stderr)
      assert.ok(summary, finished.stderr)
      assert.equal(Number(summary[1]), N)
    } finally {
      run.kill()
    }
    assert.equal(await endOffsetsSum(topic, kafka.bootstrap), N)
    const ids = await eventIds(kafka.bootstrap, topic, N)
    assert.equal(new Set(ids).size, N)
  })
})
