/**
 * Late rows of a backlog read slowly (issue 12 item 2): 100,000 events over two hours of event time in four
 * partitions, produced before the pipeline starts, read in batches of 8,000 with a 1.5 s trigger, a 1 s idle
 * timeout and a 30 s watermark delay. Every partition is quiet for longer than the idle timeout between
 * batches while most of the backlog is still unread; none of it should be late.
 *
 *   KAFKA_BROKERS=127.0.0.1:9092 node bench/micro/idle-backlog.ts [TREE]
 *
 * TREE (default: this checkout) is the source tree whose engine runs, so two trees can be compared on one
 * broker (e.g. `git worktree add /tmp/before <commit>` plus a node_modules symlink).
 */
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const tree = resolve(process.argv[2] ?? '.')
const brokers = process.env.KAFKA_BROKERS
if (!brokers) throw new Error('Set KAFKA_BROKERS (e.g. `npx sluice kafka start`).')
const load = (path: string) => import(join(tree, path))
const { KafkaAdmin } = await load('src/connectors/kafka/admin.ts')
const { KafkaProducer } = await load('src/connectors/kafka/producer.ts')
const { kafka } = await load('src/connectors/kafka/source.ts')
const { memory } = await load('src/connectors/testing/memory.ts')
const { pipeline } = await load('src/dsl/stream.ts')
const { run } = await load('src/runtime/run.ts')
const { count } = await load('src/aggregate/index.ts')
const { tumbling } = await load('src/window/index.ts')

const topic = `idle-backlog-${Date.now()}`
const admin = new KafkaAdmin({ brokers })
await admin.createTopic(topic, { partitions: 4 })
await admin.close()
const T0 = Date.parse('2026-11-25T10:00:00Z')
const n = 100_000
const producer = new KafkaProducer({ brokers })
for (let i = 0; i < n; i += 5000) {
  const rows = []
  for (let j = i; j < i + 5000; j++) {
    const t = new Date(T0 + Math.floor((j / n) * 120 * 60_000)).toISOString()
    rows.push({ topic, key: `k${j % 4}`, partition: j % 4, value: JSON.stringify({ k: `k${j % 4}`, t }) })
  }
  await producer.send(rows)
}
await producer.close()

interface Progress {
  readonly lateRows: number
  readonly inputRows: number
}
const p = pipeline(topic)
  .from(kafka({ brokers, topics: topic }))
  .map((b: Buffer) => JSON.parse(b.toString()) as { k: string; t: string })
  .withWatermark('t', '30s', { idleTimeout: '1s' })
  .keyBy((e: { k: string }) => e.k)
  .window(tumbling('1m'))
  .aggregate(count())
  .to(memory())
let late = 0
let input = 0
let batches = 0
const stop = new AbortController()
const running = run(p, {
  checkpoint: join(tmpdir(), `${topic}-checkpoint`),
  trigger: { kind: 'processingTime', intervalMs: 1500 },
  maxBatchRecords: 8000,
  signal: stop.signal,
  onProgress: (progress: Progress) => {
    late += progress.lateRows
    input += progress.inputRows
    batches++
  },
})
while (input < n) await new Promise((r) => setTimeout(r, 100))
stop.abort()
await running
console.log(`${tree}: ${input} records read in ${batches} batches, ${late} late`)
