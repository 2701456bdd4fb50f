/**
 * Restore time of a scaled-out pipeline's keyed state (issue 13): a count per Kafka record key over N distinct
 * keys (default 1,000,000) in a 12-partition topic. A first instance builds the state (its changelog topic
 * gets one row per key); a second, started with an empty state directory, restores every task from the
 * changelog; a third, started on the second's directory after its clean stop, restores from its local stores.
 * Prints each restore's time and rows, from the instances' own restore lines.
 *
 *   KAFKA_BROKERS=127.0.0.1:9092 node bench/micro/restore.ts [--keys 1000000]
 *
 * With DATABASE_URL set, the pipeline writes to PostgreSQL and its state is restored from that database; with
 * MYSQL_URL (and no DATABASE_URL), the same with MariaDB/MySQL.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { KafkaAdmin } from '../../src/connectors/kafka/admin.ts'
import { KafkaProducer } from '../../src/connectors/kafka/producer.ts'

const brokers = process.env.KAFKA_BROKERS
if (!brokers) throw new Error('Set KAFKA_BROKERS (e.g. `npx sluice kafka start`).')
const { values } = parseArgs({ options: { keys: { type: 'string', default: '1000000' } } })
const keys = Number(values.keys)
const SCRIPT = fileURLToPath(new URL('./restore-instance.ts', import.meta.url))
const run = `restore-${Date.now().toString(36)}`
const input = `${run}-in`
const output = `${run}-out`
const admin = new KafkaAdmin({ brokers })
await admin.createTopic(input, { partitions: 12 })
await admin.createTopic(output, { partitions: 3 })
await admin.close()
const dir = await mkdtemp(join(tmpdir(), 'sluice-restore-'))

const producer = new KafkaProducer({ brokers })
const produceStart = performance.now()
for (let i = 0; i < keys; i += 10_000) {
  const batch = []
  for (let k = i; k < Math.min(keys, i + 10_000); k++) batch.push({ topic: input, key: `u${k}`, value: '{}' })
  await producer.send(batch)
}
console.log(`produced ${keys} records (one per key) in ${Math.round(performance.now() - produceStart)} ms`)

/** One more record on every partition, so the next instance has input on all of them. */
async function touchEveryPartition(round: number): Promise<void> {
  await producer.send(
    Array.from({ length: 12 }, (_, partition) => ({
      topic: input,
      partition,
      key: `u${partition}`,
      value: `${round}`,
    })),
  )
}

interface Restore {
  readonly tasks: number
  readonly fromLocal: number
  readonly rows: number
  readonly ms: number
}

/** Runs one instance to the end of the input; returns its wall time and the restores it logged. */
function instance(
  checkpoint: string,
): Promise<{ seconds: number; restores: Restore[]; longestStallMs: number | undefined }> {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SCRIPT, input, output, run, 'i1', checkpoint], {
      env: { ...process.env, KAFKA_BROKERS: brokers },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d
    })
    const restores: Restore[] = []
    let tail = ''
    let partial = ''
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      tail = (tail + d).slice(-4000)
      const lines = (partial + d).split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines) {
        if (!line.includes('"restore"')) continue
        const { restore } = JSON.parse(line) as { restore: Restore }
        restores.push(restore)
      }
    })
    child.on('close', (code) => {
      const summary = stdout.trim() ? (JSON.parse(stdout.trim()) as { longestStallMs?: number }) : {}
      if (code === 0)
        resolve({
          seconds: (performance.now() - started) / 1000,
          restores,
          longestStallMs: summary.longestStallMs,
        })
      else reject(new Error(`instance failed (exit ${code}): ${tail}`))
    })
  })
}

const describe = (restores: readonly Restore[]) => {
  const ms = restores.reduce((n, r) => n + r.ms, 0)
  const rows = restores.reduce((n, r) => n + r.rows, 0)
  const tasks = restores.reduce((n, r) => n + r.tasks, 0)
  const local = restores.reduce((n, r) => n + r.fromLocal, 0)
  return `${tasks} tasks (${local} from local stores), ${rows} rows from the changelog, restore ${Math.round(ms)} ms`
}

try {
  const first = await instance(join(dir, 'first'))
  console.log(
    `build: state of ${keys} keys in ${first.seconds.toFixed(1)} s (${describe(first.restores)}); longest event-loop stall ${first.longestStallMs} ms`,
  )
  await touchEveryPartition(1)
  const second = await instance(join(dir, 'second'))
  console.log(
    `empty state directory: ${describe(second.restores)}; run ${second.seconds.toFixed(1)} s; longest event-loop stall ${second.longestStallMs} ms`,
  )
  await touchEveryPartition(2)
  const third = await instance(join(dir, 'second'))
  console.log(
    `restart on its local stores: ${describe(third.restores)}; run ${third.seconds.toFixed(1)} s; longest event-loop stall ${third.longestStallMs} ms`,
  )
} finally {
  await producer.close()
  await rm(dir, { recursive: true, force: true })
}
