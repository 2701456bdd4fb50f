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

interface Placed {
  readonly id: string
  readonly partition: number
  readonly offset: bigint
}

/** Every record on the topic (`n` of them, its end offsets' sum) with where it sits. */
async function placedIds(bootstrap: string, topic: string, n: number): Promise<Placed[]> {
  const consumer = new KafkaConsumer({ brokers: bootstrap, groupId: `place-${topic}`, topics: [topic] })
  const placed: Placed[] = []
  try {
    for await (const batch of consumer.batches({
      maxRecords: 5000,
      lingerMs: 20,
      idleMs: 500,
      signal: AbortSignal.timeout(60_000),
    })) {
      for (const r of batch) {
        const { event_id } = JSON.parse(r.value!.toString()) as { event_id: string }
        placed.push({ id: event_id, partition: r.partition, offset: r.offset })
      }
      if (placed.length >= n) break
    }
  } finally {
    await consumer.close()
  }
  return placed
}

/**
 * Records written more than once, as runs of consecutive offsets per partition with where they were first
 * ("p1 1248-1351 (104 records) repeat 1144-1247"): a batch written twice shows as one run of its size.
 */
function duplicates(records: readonly Placed[]): string[] {
  const first = new Map<string, Placed>()
  const runs: { partition: number; from: bigint; to: bigint; firstFrom: bigint; firstTo: bigint }[] = []
  const sorted = [...records].sort((a, b) => a.partition - b.partition || Number(a.offset - b.offset))
  for (const r of sorted) {
    const original = first.get(r.id)
    if (!original) {
      first.set(r.id, r)
      continue
    }
    const last = runs.at(-1)
    if (
      last &&
      last.partition === r.partition &&
      last.to + 1n === r.offset &&
      last.firstTo + 1n === original.offset
    ) {
      last.to = r.offset
      last.firstTo = original.offset
    } else {
      runs.push({
        partition: r.partition,
        from: r.offset,
        to: r.offset,
        firstFrom: original.offset,
        firstTo: original.offset,
      })
    }
  }
  return runs.map(
    (r) =>
      `p${r.partition} ${r.from}-${r.to} (${r.to - r.from + 1n} records) repeat ${r.firstFrom}-${r.firstTo}`,
  )
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
      const ids = (await placedIds(kafka.bootstrap, topic, N)).map((r) => r.id)
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

  test(
    'one node of three killed mid-produce: nothing lost, nothing twice, the count exact',
    SLOW,
    async (t) => {
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
        // Small requests, more of them awaiting acknowledgement across the leader change: before the fix 3 runs of
        // 16 wrote some twice this way, 1 of 8 with the default 2000 (the pacer's 300-record requests).
        '--batch-size',
        '100',
      ])
      let stderr = ''
      try {
        await underWay(kafka.bootstrap, topic, 3000, run)
        killNode(kafka.nodes[1]!)
        const finished = await run.exited
        stderr = finished.stderr
        assert.equal(finished.code, 0, finished.stderr)
        // Whether the kill hit produce requests under way (they were retried; a coordinator still loading at the
        // start says "InitProducerId" instead). Usually it does; a kill between two requests to that node
        // (seen once in a fresh-clone CI run) tests less, but what follows must hold all the same.
        if (!/Kafka is not acknowledging \((?:Connection|[^\n]*API Produce)/.test(finished.stderr))
          t.diagnostic('the kill hit no produce request under way this time')
        const summary = SUMMARY.exec(finished.stderr)
        assert.ok(summary, finished.stderr)
        assert.equal(Number(summary[1]), N)
      } finally {
        run.kill()
      }
      const held = await endOffsetsSum(topic, kafka.bootstrap)
      const records = await placedIds(kafka.bootstrap, topic, held)
      assert.equal(records.length, held, 'the topic read to its end')
      assert.deepEqual(
        duplicates(records),
        [],
        `${held} records on the topic for ${N} delivered, ${new Set(records.map((r) => r.id)).size} distinct; sluice said:\n${stderr}`,
      )
      assert.equal(held, N)
    },
  )
})
