import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { KafkaAdmin } from '../../src/connectors/kafka/admin.ts'
import {
  fixtureGroup,
  GrowingTopicReader,
  type Instance,
  produceIds,
  seeded,
  settle,
  startInstance,
} from '../helpers/instances.ts'
import { brokers, freshTopic } from '../helpers/kafka.ts'
import { waitFor } from '../helpers/wait.ts'

/**
 * Several instances of one stateless pipeline share its input's partitions (one consumer group, cooperative
 * rebalancing, a transactional producer per instance). Whatever instances join, die or hang, every input is
 * written once: the output is compared by content with the input.
 */

const PARTITIONS = 12

const dirs: string[] = []
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-scale-'))
  dirs.push(dir)
  return dir
}

/** Reads the committed output (read_committed) as it grows: ids in order of arrival, and who wrote them. */
class OutputReader {
  readonly ids: number[] = []
  readonly writers = new Map<string, number>()
  /** Who wrote each id (the last writer when written twice). */
  readonly writerOf = new Map<number, string>()
  readonly #topic: GrowingTopicReader

  constructor(topic: string) {
    this.#topic = new GrowingTopicReader(topic, (r) => {
      const row = JSON.parse(r.value!.toString()) as { id: number; by: string }
      this.ids.push(row.id)
      this.writerOf.set(row.id, row.by)
      this.writers.set(row.by, (this.writers.get(row.by) ?? 0) + 1)
    })
  }

  readThrough(end: ReadonlyMap<string, bigint>): boolean {
    return this.#topic.readThrough(end)
  }

  close(): Promise<void> {
    return this.#topic.close()
  }
}

/** Per partition: who wrote how many, and the offsets missing (first, last, count). */
function perPartition(reader: OutputReader, n: number): Record<number, unknown> {
  const out: Record<number, { by: Record<string, number>; missing: number[]; missingCount: number }> = {}
  for (let id = 0; id < n; id++) {
    const p = id % PARTITIONS
    out[p] ??= { by: {}, missing: [], missingCount: 0 }
    const by = reader.writerOf.get(id)
    if (by === undefined) {
      const offset = Math.floor(id / PARTITIONS)
      if (out[p].missingCount === 0) out[p].missing.push(offset)
      out[p].missingCount++
      out[p].missing[1] = offset
    } else out[p].by[by] = (out[p].by[by] ?? 0) + 1
  }
  return out
}

/** Every id of [0, n) exactly once. */
function assertExactlyOnce(ids: readonly number[], n: number): void {
  const seen = new Set<number>()
  const duplicates: number[] = []
  for (const id of ids) {
    if (seen.has(id)) duplicates.push(id)
    seen.add(id)
  }
  assert.deepEqual(duplicates.slice(0, 10), [], `${duplicates.length} duplicates`)
  const missing: number[] = []
  for (let id = 0; id < n && missing.length < 10; id++) if (!seen.has(id)) missing.push(id)
  assert.deepEqual(missing, [], 'every input written')
  assert.equal(ids.length, n)
}

describe('a stateless pipeline scaled out over several instances', () => {
  // Longer than the suite's 2 minutes: the instance killed for good leaves a transaction open, which holds
  // its partitions' offsets until the broker aborts it (30 s timeout, up to 10 s more for the abort sweep).
  test('instances join, are SIGKILLed and replaced, and leave (1 → 3 → 2) while input arrives: every input once', {
    timeout: 360_000,
  }, async () => {
    const input = await freshTopic('scale-in', PARTITIONS)
    const output = await freshTopic('scale-out', 3)
    const reader = new OutputReader(output)
    const checkpoints = new Map<string, string>()
    const running = new Map<string, Instance>()
    const start = async (name: string) => {
      if (!checkpoints.has(name)) checkpoints.set(name, await tempDir())
      running.set(name, startInstance('stateless', name, input, output, checkpoints.get(name)!))
    }
    const kill = async (name: string, signal: NodeJS.Signals = 'SIGKILL') => {
      const instance = running.get(name)!
      instance.child.kill(signal)
      await instance.exited
      running.delete(name)
    }
    const random = seeded(4242)
    const CHUNK = 10_000
    let produced = 0
    const produceChunk = async () => {
      await produceIds(input, produced, produced + CHUNK, PARTITIONS)
      produced += CHUNK
    }
    /** Waits until the output has grown by `k` more records (the instances are working). */
    const progress = async (k: number) => {
      const target = Math.min(produced, reader.ids.length + k)
      await waitFor(() => reader.ids.length >= target, 120_000, `${target} output records`)
    }
    try {
      await start('w1')
      await produceChunk()
      await progress(3000)
      // 1 → 3
      await start('w2')
      await start('w3')
      for (let round = 0; round < 5; round++) {
        await produceChunk()
        await progress(1000 + Math.floor(random() * 4000))
        // A random instance dies mid-batch and is replaced under the same name.
        const victim = [...running.keys()][Math.floor(random() * running.size)]!
        await kill(victim)
        await start(victim)
      }
      // 3 → 2: one leaves for good (killed: its partitions move when its session times out).
      await kill([...running.keys()][Math.floor(random() * running.size)]!)
      for (let round = 0; round < 3; round++) {
        await produceChunk()
        await progress(2000)
      }
      await waitFor(() => reader.ids.length >= produced, 180_000, `all ${produced} inputs in the output`)
      await settle(input, output, (end) => reader.readThrough(end))
      assertExactlyOnce(reader.ids, produced)
      const writers = [...reader.writers.entries()].filter(([, n]) => n > 0)
      assert.ok(writers.length >= 3, `the instances shared the input: ${JSON.stringify(writers)}`)
    } finally {
      for (const name of [...running.keys()]) await kill(name)
      await reader.close()
    }
  })

  test('an instance joining while another works through a backlog: every input once', {
    timeout: 240_000,
  }, async () => {
    const input = await freshTopic('join-in', PARTITIONS)
    const output = await freshTopic('join-out', 3)
    const reader = new OutputReader(output)
    const first = startInstance('stateless', 'j1', input, output, await tempDir())
    let second: Instance | undefined
    try {
      // A backlog, so that the first has a batch in flight whenever the second joins.
      const produced = 150_000
      await produceIds(input, 0, produced, PARTITIONS)
      await waitFor(() => reader.ids.length >= 2000, 120_000, 'the first instance to write')
      // Joins while the first commits: the group moves to a new generation mid-commit.
      second = startInstance('stateless', 'j2', input, output, await tempDir())
      await waitFor(() => reader.ids.length >= produced, 180_000, `all ${produced} inputs written`)
      assert.ok((reader.writers.get('j2') ?? 0) > 0, 'the second instance shared the input')
      await settle(input, output, (end) => reader.readThrough(end))
      assertExactlyOnce(reader.ids, produced)
    } finally {
      first.child.kill('SIGKILL')
      second?.child.kill('SIGKILL')
      await Promise.all([first.exited, second?.exited])
      await reader.close()
    }
  })

  test('a zombie (SIGSTOP past its session timeout) is fenced when it wakes: every input once', {
    timeout: 360_000,
  }, async () => {
    const input = await freshTopic('zombie-in', PARTITIONS)
    const output = await freshTopic('zombie-out', 3)
    const reader = new OutputReader(output)
    const a = startInstance('stateless', 'z1', input, output, await tempDir())
    const b = startInstance('stateless', 'z2', input, output, await tempDir())
    try {
      // Input in small chunks until both write: one instance may have read a first chunk alone before the
      // other joined.
      let produced = 0
      while (!((reader.writers.get('z1') ?? 0) > 0 && (reader.writers.get('z2') ?? 0) > 0)) {
        assert.ok(produced < 40_000, 'both instances write within 40,000 inputs')
        await produceIds(input, produced, produced + 2000, PARTITIONS)
        produced += 2000
        await waitFor(() => reader.ids.length >= produced, 120_000, `${produced} inputs written`)
      }
      // Frozen, likely with a batch in flight; the session timeout (10 s) passes and z2 takes its partitions.
      a.child.kill('SIGSTOP')
      await produceIds(input, produced, produced + 20_000, PARTITIONS)
      produced += 20_000
      await waitFor(() => reader.ids.length >= produced, 120_000, 'z2 to write everything').catch(
        async (error) => {
          const said = b
            .stderr()
            .split('\n')
            .filter((l) => !l.includes('"batchId"') || l.includes('"level":40') || l.includes('"level":50'))
          const admin = new KafkaAdmin({ brokers: brokers() })
          const group = fixtureGroup(input)
          const state = JSON.stringify(
            {
              group: await admin.describeGroup(group).catch((e) => String(e)),
              lag: await admin.groupLag(group, input).catch((e) => String(e)),
              outEnd: [...(await admin.offsets(output))],
            },
            (_k, v) => (typeof v === 'bigint' ? Number(v) : v),
          )
          await admin.close()
          throw new Error(
            `${error}; ${state}; read ${reader.ids.length}; per partition: ${JSON.stringify(perPartition(reader, produced))}; z2 said: ${said.join('\n').slice(-6000)}`,
          )
        },
      )
      a.child.kill('SIGCONT')
      await produceIds(input, produced, produced + 10_000, PARTITIONS)
      produced += 10_000
      await waitFor(() => reader.ids.length >= produced, 120_000, 'all inputs after the zombie woke')
      await settle(input, output, (end) => reader.readThrough(end))
      assertExactlyOnce(reader.ids, produced)
    } finally {
      a.child.kill('SIGKILL')
      b.child.kill('SIGKILL')
      await Promise.all([a.exited, b.exited])
      await reader.close()
    }
  })
})
