import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import { KafkaProducer } from '../../src/connectors/kafka/producer.ts'
import {
  diagnose,
  GrowingTopicReader,
  type Instance,
  seeded,
  settle,
  startInstance,
  waitForMembers,
} from '../helpers/instances.ts'
import { brokers, freshTopic } from '../helpers/kafka.ts'
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts'
import { waitFor } from '../helpers/wait.ts'

/**
 * A stateful pipeline (dedupe, then per-record-key 10-second counts) scaled out over several instances: its
 * keyed state moves with its partitions through changelog topics. Whatever instances join, die, restart with
 * or without their local state, every window is emitted once with the count of its distinct events, as an
 * independent reference computed from the input says.
 */

const PARTITIONS = 12
const KEYS = 60
/** Event time of event i: 20 ms apart, so a 10-second window of one key holds about 8 events. */
const T0 = Date.UTC(2026, 0, 1)
const STEP_MS = 20

const dirs: string[] = []
let database: TestPostgres
let db: pg.Pool
before(async () => {
  database = await startPostgres()
  db = new pg.Pool({ connectionString: database.url, max: 2 })
  // The loader instances (child processes) take the database from their environment.
  process.env.SINK_DATABASE_URL = database.url
})
after(async () => {
  await db?.end()
  await database?.stop()
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

/** The windows a loader wrote to `table`: cell → every value it holds (one, when exactly once). */
async function tableCells(table: string): Promise<Map<string, number[]>> {
  const result = await db
    .query<{ key: string; window_start: string | Date; value: number }>(
      `SELECT key, window_start, value FROM "${table}"`,
    )
    .catch((error: { code?: string }) => {
      if (error.code === '42P01') return { rows: [] }
      throw error
    })
  const cells = new Map<string, number[]>()
  for (const r of result.rows) {
    const start = r.window_start instanceof Date ? r.window_start.toISOString() : r.window_start
    const cell = `${r.key}@${start}`
    cells.set(cell, [...(cells.get(cell) ?? []), Number(r.value)])
  }
  return cells
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-scale-state-'))
  dirs.push(dir)
  return dir
}

/** Key of event i, and its partition: key kj lives on partition j % 12 (the producer partitioned by key). */
function keyOf(id: number): { key: string; partition: number } {
  const j = id % KEYS
  return { key: `k${j}`, partition: j % PARTITIONS }
}

/** Events [from, to) in id order; every seventh is sent twice (a producer retry), right after itself. */
async function produceEvents(topic: string, from: number, to: number): Promise<void> {
  const producer = new KafkaProducer({ brokers: brokers() })
  try {
    for (let i = from; i < to; i += 5000) {
      const records = []
      for (let id = i; id < Math.min(to, i + 5000); id++) {
        const { key, partition } = keyOf(id)
        const value = JSON.stringify({ id, key, t: T0 + id * STEP_MS })
        records.push({ topic, key, value, partition })
        if (id % 7 === 0) records.push({ topic, key, value, partition })
      }
      await producer.send(records)
    }
  } finally {
    await producer.close()
  }
}

/** One event per partition far ahead in event time, so every window of the events before it closes. */
async function produceClosers(topic: string, last: number): Promise<void> {
  const producer = new KafkaProducer({ brokers: brokers() })
  try {
    const t = T0 + last * STEP_MS + 120_000
    await producer.send(
      Array.from({ length: PARTITIONS }, (_, p) => ({
        topic,
        key: `closer-${p}`,
        value: JSON.stringify({ id: 1e9 + p, key: `closer-${p}`, t }),
        partition: p,
      })),
    )
  } finally {
    await producer.close()
  }
}

/** The reference: per (key, window start), the number of distinct events of [0, n). */
function reference(n: number): Map<string, number> {
  const out = new Map<string, number>()
  for (let id = 0; id < n; id++) {
    const t = T0 + id * STEP_MS
    const start = new Date(t - (t % 10_000)).toISOString()
    const cell = `${keyOf(id).key}@${start}`
    out.set(cell, (out.get(cell) ?? 0) + 1)
  }
  return out
}

/** Reads the committed window rows as they grow: counts per (key, window start), every emission kept. */
class WindowReader {
  readonly cells = new Map<string, number[]>()
  readonly writers = new Map<string, number>()
  /** Who emitted each window, and where in the output. */
  readonly emissions = new Map<string, string[]>()
  rows = 0
  readonly #topic: GrowingTopicReader

  constructor(topic: string) {
    this.#topic = new GrowingTopicReader(topic, (r) => {
      const row = JSON.parse(r.value!.toString()) as {
        key: string
        window_start: string
        value: number
        by: string
      }
      if (row.key.startsWith('closer-')) return
      const cell = `${row.key}@${row.window_start}`
      this.cells.set(cell, [...(this.cells.get(cell) ?? []), row.value])
      this.emissions.set(cell, [...(this.emissions.get(cell) ?? []), `${row.by}@${r.partition}:${r.offset}`])
      this.writers.set(row.by, (this.writers.get(row.by) ?? 0) + 1)
      this.rows++
    })
  }

  readThrough(end: ReadonlyMap<string, bigint>): boolean {
    return this.#topic.readThrough(end)
  }

  close(): Promise<void> {
    return this.#topic.close()
  }
}

/** The windows of the reference not emitted, per input partition: how many, and the first and last. */
function missingWindows(reader: WindowReader, expected: ReadonlyMap<string, number>): string {
  const missing = new Map<number, string[]>()
  for (const cell of expected.keys()) {
    if (reader.cells.has(cell)) continue
    const partition = Number(cell.slice(1, cell.indexOf('@'))) % PARTITIONS
    missing.set(partition, [...(missing.get(partition) ?? []), cell])
  }
  return JSON.stringify(
    Object.fromEntries(
      [...missing].map(([p, cells]) => [p, `${cells.length}: ${cells[0]} … ${cells.at(-1)}`]),
    ),
  )
}

/** Every window of the reference exactly once, with its count; no other window. */
function assertWindowsExact(reader: WindowReader, expected: ReadonlyMap<string, number>): void {
  const wrong: string[] = []
  for (const [cell, count] of expected) {
    const got = reader.cells.get(cell)
    if (got === undefined || got.length !== 1 || got[0] !== count)
      wrong.push(
        `${cell}: expected [${count}], got ${JSON.stringify(got ?? [])} from ${reader.emissions.get(cell)?.join(', ')}`,
      )
  }
  for (const cell of reader.cells.keys()) if (!expected.has(cell)) wrong.push(`${cell}: not expected`)
  assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} windows differ from the reference`)
  assert.equal(reader.rows, expected.size)
}

describe('a stateful pipeline scaled out over several instances', () => {
  test('instances join, are SIGKILLed and replaced, and leave (1 → 3 → 2) while input arrives: every window once and exact', {
    timeout: 420_000,
  }, async () => {
    const input = await freshTopic('scale-state-in', PARTITIONS)
    const output = await freshTopic('scale-state-out', 3)
    const reader = new WindowReader(output)
    // A stateless pipeline loads the windows into PostgreSQL as they are committed (killed once, too).
    const table = `windows_${input.replaceAll('-', '_')}`
    let loader = startInstance('windows-postgres', 'l1', output, table, await tempDir(), 'info')
    const checkpoints = new Map<string, string>()
    const running = new Map<string, Instance>()
    const start = async (name: string) => {
      if (!checkpoints.has(name)) checkpoints.set(name, await tempDir())
      running.set(name, startInstance('scaled-stateful', name, input, output, checkpoints.get(name)!, 'info'))
    }
    const kill = async (name: string) => {
      const instance = running.get(name)!
      instance.child.kill('SIGKILL')
      await instance.exited
      running.delete(name)
    }
    const random = seeded(1717)
    const CHUNK = 10_000
    let produced = 0
    const produceChunk = async () => {
      await produceEvents(input, produced, produced + CHUNK)
      produced += CHUNK
    }
    /** Waits until `k` more windows were emitted (the instances are working). */
    const progress = async (k: number) => {
      const target = reader.rows + k
      await waitFor(() => reader.rows >= target, 120_000, `${target} windows emitted`).catch(
        async (error) => {
          throw new Error(`${error}; ${reader.rows} emitted\n${await diagnose(input, [...running.values()])}`)
        },
      )
    }
    try {
      await start('s1')
      await produceChunk()
      await progress(200)
      await start('s2')
      await start('s3')
      for (let round = 0; round < 4; round++) {
        await produceChunk()
        await progress(100 + Math.floor(random() * 800))
        const victim = [...running.keys()][Math.floor(random() * running.size)]!
        await kill(victim)
        await start(victim)
      }
      await kill([...running.keys()][Math.floor(random() * running.size)]!)
      loader.child.kill('SIGKILL')
      await loader.exited
      loader = startInstance('windows-postgres', 'l1', output, table, await tempDir(), 'info')
      for (let round = 0; round < 2; round++) {
        await produceChunk()
        await progress(200)
      }
      await produceClosers(input, produced - 1)
      const expected = reference(produced)
      await waitFor(
        () => reader.rows >= expected.size,
        240_000,
        `all ${expected.size} windows emitted`,
      ).catch(async (error) => {
        throw new Error(
          `${error}; ${reader.rows} emitted; missing ${missingWindows(reader, expected)}\n${await diagnose(input, [...running.values()])}`,
        )
      })
      await settle(input, output, (end) => reader.readThrough(end))
      assertWindowsExact(reader, expected)
      assert.ok(reader.writers.size >= 3, `instances shared the work: ${JSON.stringify([...reader.writers])}`)
      // The database has every window once, as the reference says.
      let rows = new Map<string, number[]>()
      await waitFor(
        async () => {
          rows = await tableCells(table)
          return [...rows.values()].reduce((n, v) => n + v.length, 0) >= expected.size
        },
        120_000,
        `all ${expected.size} windows in PostgreSQL`,
      )
      const wrong = [...expected]
        .filter(([cell, count]) => JSON.stringify(rows.get(cell)) !== JSON.stringify([count]))
        .map(([cell, count]) => `${cell}: expected [${count}], got ${JSON.stringify(rows.get(cell) ?? [])}`)
      assert.deepEqual(
        wrong.slice(0, 10),
        [],
        `${wrong.length} windows in PostgreSQL differ from the reference`,
      )
      assert.equal(
        [...rows.values()].reduce((n, v) => n + v.length, 0),
        expected.size,
      )
    } finally {
      for (const name of [...running.keys()]) await kill(name)
      loader.child.kill('SIGKILL')
      await loader.exited
      await reader.close()
    }
  })

  // A zombie woken after its session timeout lost its membership: the client empties its assignment and
  // rejoins, and may be given the same partitions back after the other instance processed and committed
  // them meanwhile. Before each ownership was tracked, the zombie went on from where it had read and with the
  // state it held (duplicate windows, committed under its new generation) in 4 of 5 runs.
  test('a zombie (SIGSTOP past its session timeout) is fenced when it wakes: every window once and exact', {
    timeout: 360_000,
  }, async () => {
    const input = await freshTopic('state-zombie-in', PARTITIONS)
    const output = await freshTopic('state-zombie-out', 3)
    const reader = new WindowReader(output)
    const a = startInstance('scaled-stateful', 'z1', input, output, await tempDir(), 'info')
    const b = startInstance('scaled-stateful', 'z2', input, output, await tempDir(), 'info')
    const emittedBy = (name: string) =>
      [...reader.writers].filter(([by]) => by.startsWith(`${name}/`)).reduce((n, [, k]) => n + k, 0)
    try {
      await waitForMembers(input, 2)
      // Input until both emit windows.
      let produced = 0
      // Small chunks until both emit: a cooperative rebalance gives the second its partitions in a second
      // round, after the first let them go, which a group that looks stable may not have finished.
      while (!(emittedBy('z1') > 0 && emittedBy('z2') > 0)) {
        assert.ok(produced < 200_000, 'both instances emit within 200,000 inputs')
        await produceEvents(input, produced, produced + 2000)
        produced += 2000
        const target = reader.rows + 100
        await waitFor(() => reader.rows >= target, 120_000, 'windows of the new input')
      }
      // Frozen, its tasks' state in memory; z2 takes its partitions after the session timeout (10 s) and
      // restores them from the changelog.
      a.child.kill('SIGSTOP')
      await produceEvents(input, produced, produced + 10_000)
      produced += 10_000
      const before = emittedBy('z2')
      await waitFor(() => emittedBy('z2') >= before + 1000, 180_000, 'z2 to take over and emit')
      // Awake: its next commit is fenced, it restarts and rejoins.
      a.child.kill('SIGCONT')
      await produceEvents(input, produced, produced + 5000)
      produced += 5000
      await produceClosers(input, produced - 1)
      const expected = reference(produced)
      await waitFor(
        () => reader.rows >= expected.size,
        240_000,
        `all ${expected.size} windows emitted`,
      ).catch(async (error) => {
        throw new Error(
          `${error}; ${reader.rows} emitted; missing ${missingWindows(reader, expected)}\n${await diagnose(input, [a, b])}`,
        )
      })
      await settle(input, output, (end) => reader.readThrough(end))
      assertWindowsExact(reader, expected)
    } finally {
      a.child.kill('SIGKILL')
      b.child.kill('SIGKILL')
      await Promise.all([a.exited, b.exited])
      await reader.close()
    }
  })

  test('an instance with an empty state directory restores from the changelog; a clean restart uses its local store', {
    timeout: 300_000,
  }, async () => {
    const input = await freshTopic('restore-in', PARTITIONS)
    const output = await freshTopic('restore-out', 3)
    const reader = new WindowReader(output)
    const instances: Instance[] = []
    try {
      let produced = 0
      await produceEvents(input, 0, 20_000)
      produced = 20_000
      const first = startInstance('scaled-stateful', 'r1', input, output, await tempDir(), 'info')
      instances.push(first)
      await waitFor(() => reader.rows >= 1000, 120_000, 'the first instance to emit windows')
      first.child.kill('SIGKILL')
      await first.exited
      // Same instance name, nothing on disk: every task restores from the changelog topics.
      const dir = await tempDir()
      const second = startInstance('scaled-stateful', 'r1', input, output, dir, 'info')
      instances.push(second)
      await waitFor(
        () => /rows from the changelog/.test(second.stderr()),
        120_000,
        'the second instance to restore its tasks',
      )
      const restored = [...second.stderr().matchAll(/, (\d+) rows from the changelog\)/g)].map((m) =>
        Number(m[1]),
      )
      assert.ok(
        restored.some((rows) => rows > 0),
        `state came from the changelog: ${restored.join(', ')}`,
      )
      await produceEvents(input, produced, produced + 10_000)
      produced += 10_000
      await waitFor(() => reader.rows >= 2000, 120_000, 'the second instance to emit windows')
      // A clean stop commits the local stores: the restart restores every task from them.
      second.child.kill('SIGTERM')
      await second.exited
      const third = startInstance('scaled-stateful', 'r1', input, output, dir, 'info')
      instances.push(third)
      await produceEvents(input, produced, produced + 10_000)
      produced += 10_000
      await produceClosers(input, produced - 1)
      const expected = reference(produced)
      await waitFor(() => reader.rows >= expected.size, 180_000, `all ${expected.size} windows emitted`)
      await settle(input, output, (end) => reader.readThrough(end))
      assertWindowsExact(reader, expected)
      const local = [...third.stderr().matchAll(/restored (\d+) task\(s\) \((\d+) from the local store/g)]
      assert.ok(
        local.some((m) => Number(m[2]) > 0),
        `the restart used its local stores: ${local.map((m) => m[0]).join('; ')}`,
      )
    } finally {
      for (const i of instances) i.child.kill('SIGKILL')
      await Promise.all(instances.map((i) => i.exited))
      await reader.close()
    }
  })
})
