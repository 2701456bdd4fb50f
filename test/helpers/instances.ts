import { type ChildProcess, spawn } from 'node:child_process'
import { appendFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { KafkaAdmin } from '../../src/connectors/kafka/admin.ts'
import { KafkaConsumer } from '../../src/connectors/kafka/consumer.ts'
import { KafkaProducer } from '../../src/connectors/kafka/producer.ts'
import type { ConsumedRecord } from '../../src/connectors/kafka/records.ts'
import { brokers, uniqueGroup } from './kafka.ts'
import { waitFor } from './wait.ts'

/** Instances of test/fixtures/crash-pipeline.ts as child processes, for the scale-out tests. */

const SCRIPT = fileURLToPath(new URL('../fixtures/crash-pipeline.ts', import.meta.url))

export interface Instance {
  readonly name: string
  readonly child: ChildProcess
  readonly exited: Promise<void>
  stderr(): string
}

/**
 * Starts one instance named `name` of the fixture's `pipeline` (PIPELINE: stateless, scaled-stateful); it
 * logs at `logLevel` (default warn) to its stderr.
 */
export function startInstance(
  pipeline: string,
  name: string,
  input: string,
  output: string,
  checkpoint: string,
  logLevel = 'warn',
): Instance {
  const child = spawn(process.execPath, [SCRIPT, input, output, checkpoint, 'continuous'], {
    env: {
      ...process.env,
      KAFKA_BROKERS: brokers(),
      PIPELINE: pipeline,
      BATCH_RECORDS: '1000',
      INSTANCE: name,
      SLUICE_LOG_LEVEL: logLevel,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  // SLUICE_TEST_INSTANCE_LOGS=<dir> keeps every instance's log there, killed ones too, to read after a failure.
  const logDir = process.env.SLUICE_TEST_INSTANCE_LOGS
  if (logDir) mkdirSync(logDir, { recursive: true })
  const logFile = logDir ? join(logDir, `${name}-${child.pid}.log`) : undefined
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString()
    if (logFile) appendFileSync(logFile, d)
  })
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
  return { name, child, exited, stderr: () => stderr }
}

/** The consumer group of the fixture's pipeline over `input`. */
export function fixtureGroup(input: string): string {
  return `sluice-crash-test-${input}`
}

/**
 * Waits until the fixture's group has committed all of `input` (no instance has anything left to write, so
 * no transaction that could still add output is open) and `readThrough` says the output was read to its end.
 */
export async function settle(
  input: string,
  output: string,
  readThrough: (end: ReadonlyMap<string, bigint>) => boolean,
): Promise<void> {
  await groupCommittedAll(input)
  const admin = new KafkaAdmin({ brokers: brokers() })
  try {
    const end = new Map([...(await admin.offsets(output))].map(([p, o]) => [`${output}:${p}`, o]))
    await waitFor(() => readThrough(end), 60_000, 'the output read to its end')
  } finally {
    await admin.close()
  }
}

/** A seeded pseudo-random sequence in [0, 1): a failure repeats. */
export function seeded(seed: number): () => number {
  let state = seed
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31
    return state / 2 ** 31
  }
}

/** What to look at when the instances stop making progress: the group's lag and their warnings and errors. */
export async function diagnose(input: string, instances: readonly Instance[]): Promise<string> {
  const admin = new KafkaAdmin({ brokers: brokers() })
  try {
    const lag = await admin.groupLag(fixtureGroup(input), input).catch((e) => String(e))
    const members = await admin
      .describeGroup(fixtureGroup(input))
      .then((g) => `${g.state}: ${g.members.map((m) => m.groupInstanceId ?? m.memberId).join(', ')}`)
      .catch((e) => String(e))
    const said = instances.map(
      (i) =>
        `${i.name} said:\n${i
          .stderr()
          .split('\n')
          .filter((l) => !l.includes('"batchId"') || /"level":(40|50|60)/.test(l))
          .join('\n')
          .slice(-3000)}`,
    )
    return [
      `group ${members}`,
      `lag ${JSON.stringify(lag, (_k, v) => (typeof v === 'bigint' ? Number(v) : v))}`,
      ...said,
    ].join('\n')
  } finally {
    await admin.close()
  }
}

/** Waits until the fixture's group has committed all of `input`: no instance has anything left to write. */
export async function groupCommittedAll(input: string): Promise<void> {
  const admin = new KafkaAdmin({ brokers: brokers() })
  try {
    await waitFor(
      async () => {
        const [end, committed] = await Promise.all([
          admin.offsets(input),
          admin.committedOffsets(fixtureGroup(input), input),
        ])
        return [...end].every(([p, offset]) => (committed.get(p) ?? -1n) >= offset)
      },
      120_000,
      'the group to commit every input',
    )
  } finally {
    await admin.close()
  }
}

/**
 * Waits until `n` instances are members of the fixture's group over `input`, the group stable and each
 * owning partitions: on a busy machine a second instance can join long after the first has read everything.
 */
export async function waitForMembers(input: string, n: number): Promise<void> {
  const admin = new KafkaAdmin({ brokers: brokers() })
  try {
    await waitFor(
      async () => {
        const group = await admin.describeGroup(fixtureGroup(input)).catch(() => undefined)
        return (
          group?.state === 'Stable' &&
          group.members.length === n &&
          group.members.every((m) => (m.partitions?.length ?? 0) > 0)
        )
      },
      120_000,
      `${n} instances in the group`,
    )
  } finally {
    await admin.close()
  }
}

/**
 * Reads a topic's committed records (read_committed) from its beginning as it grows, handing each to
 * `onRecord`, until close(): the scale-out tests read the pipeline's output with it while instances write.
 */
export class GrowingTopicReader {
  readonly #consumer: KafkaConsumer
  readonly #done: Promise<void>
  readonly #stop = new AbortController()

  constructor(topic: string, onRecord: (record: ConsumedRecord) => void) {
    this.#consumer = new KafkaConsumer({
      brokers: brokers(),
      groupId: uniqueGroup('verify'),
      topics: [topic],
      start: { from: 'earliest' },
    })
    const consumer = this.#consumer
    this.#done = (async () => {
      for await (const batch of consumer.batches({
        maxRecords: 10_000,
        lingerMs: 20,
        idleMs: 200,
        signal: this.#stop.signal,
      }))
        for (const r of batch) onRecord(r)
    })()
  }

  /** Whether everything up to `end` ("topic:partition" → offset) has been read. */
  readThrough(end: ReadonlyMap<string, bigint>): boolean {
    return this.#consumer.caughtUp(end)
  }

  async close(): Promise<void> {
    this.#stop.abort()
    await this.#done.catch(() => {})
    await this.#consumer.close()
  }
}

/**
 * Appends the stateless fixture's events `{ id, key, t }` with ids [from, to) to `topic`, id i on partition
 * i % `partitions` (the scale-out tests compare the output with these ids).
 */
export async function produceIds(topic: string, from: number, to: number, partitions: number): Promise<void> {
  const producer = new KafkaProducer({ brokers: brokers() })
  try {
    for (let i = from; i < to; i += 5000) {
      const ids = Array.from({ length: Math.min(5000, to - i) }, (_, k) => i + k)
      await producer.send(
        ids.map((id) => ({
          topic,
          key: `k${id % 50}`,
          value: JSON.stringify({ id, key: `k${id % 50}`, t: id }),
          partition: id % partitions,
        })),
      )
    }
  } finally {
    await producer.close()
  }
}
