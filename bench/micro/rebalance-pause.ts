/**
 * The pause a rebalance costs the instances it does not concern (issue 13): two instances of a stateless
 * pipeline share a 12-partition topic fed at a steady rate; a third joins, later it is SIGKILLed. For each
 * of the two, the longest time without a commit in the 15 s after each event, against the longest in the
 * 15 s before the join (the steady state). With cooperative rebalancing the two keep committing; the killed
 * instance's partitions wait for its session timeout (10 s) and are then taken over.
 *
 *   KAFKA_BROKERS=127.0.0.1:9092 node bench/micro/rebalance-pause.ts [--rate 5000]
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { KafkaAdmin } from '../../src/connectors/kafka/admin.ts'
import { KafkaProducer } from '../../src/connectors/kafka/producer.ts'

const brokers = process.env.KAFKA_BROKERS
if (!brokers) throw new Error('Set KAFKA_BROKERS (e.g. `npx sluice kafka start`).')
const { values } = parseArgs({ options: { rate: { type: 'string', default: '5000' } } })
const rate = Number(values.rate)
const SCRIPT = fileURLToPath(new URL('./scale-instance.ts', import.meta.url))
const run = `pause-${Date.now().toString(36)}`
const input = `${run}-in`
const output = `${run}-out`
const admin = new KafkaAdmin({ brokers })
await admin.createTopic(input, { partitions: 12 })
await admin.createTopic(output, { partitions: 3 })
await admin.close()
const dir = await mkdtemp(join(tmpdir(), 'sluice-pause-'))

interface Instance {
  readonly child: ChildProcess
  readonly commits: number[]
}
const instances = new Map<string, Instance>()
function start(name: string): void {
  const child = spawn(process.execPath, [SCRIPT, input, output, run, name, join(dir, name)], {
    env: { ...process.env, KAFKA_BROKERS: brokers },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const commits: number[] = []
  let partial = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n')
    partial = lines.pop() ?? ''
    for (const line of lines) if (line.startsWith('commit ')) commits.push(Number(line.split(' ')[1]))
  })
  instances.set(name, { child, commits })
}

// A steady feed: `rate` events/s in 10 sends a second, until the end.
const producer = new KafkaProducer({ brokers })
let feeding = true
let next = 0
const feed = (async () => {
  while (feeding) {
    const started = Date.now()
    const n = Math.round(rate / 10)
    await producer.send(
      Array.from({ length: n }, (_, k) => ({
        topic: input,
        partition: (next + k) % 12,
        value: JSON.stringify({ id: next + k }),
      })),
    )
    next += n
    await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - started))))
  }
})()
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** The longest gap between `name`'s commits within [from, to] (edges count as commits). */
function longestGap(name: string, from: number, to: number): number {
  const times = [from, ...instances.get(name)!.commits.filter((t) => t > from && t < to), to]
  let gap = 0
  for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i]! - times[i - 1]!)
  return gap
}

try {
  start('a')
  start('b')
  await sleep(20_000) // both joined and caught up
  const steadyFrom = Date.now()
  await sleep(15_000)
  const joinAt = Date.now()
  start('c')
  await sleep(15_000)
  const killAt = Date.now()
  instances.get('c')!.child.kill('SIGKILL')
  await sleep(20_000)
  const end = Date.now()
  const cCommits = instances.get('c')!.commits
  const report = {
    rate,
    steadyLongestGapMs: { a: longestGap('a', steadyFrom, joinAt), b: longestGap('b', steadyFrom, joinAt) },
    afterJoinLongestGapMs: { a: longestGap('a', joinAt, killAt), b: longestGap('b', joinAt, killAt) },
    cFirstCommitAfterJoinMs: cCommits.length > 0 ? cCommits[0]! - joinAt : null,
    afterKillLongestGapMs: { a: longestGap('a', killAt, end), b: longestGap('b', killAt, end) },
  }
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
} finally {
  feeding = false
  await feed.catch(() => {})
  await producer.close()
  for (const { child } of instances.values()) child.kill('SIGKILL')
  await rm(dir, { recursive: true, force: true })
}
