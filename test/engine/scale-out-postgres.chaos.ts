import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import {
  diagnose,
  type Instance,
  produceIds,
  seeded,
  startInstance,
  waitForMembers,
} from '../helpers/instances.ts'
import { freshTopic } from '../helpers/kafka.ts'
import { waitFor } from '../helpers/wait.ts'
import { db } from './scale-out-postgres-db.ts'

/**
 * Several instances of one stateless pipeline from Kafka into one PostgreSQL table: each commits its own
 * partitions' positions in its database transactions (a row per partition), so whatever instances join, die or
 * hang, every input is a row once. The table is compared by content with the input.
 */

const PARTITIONS = 12

const dirs: string[] = []
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-scale-pg-'))
  dirs.push(dir)
  return dir
}

/** Rows in `table` (0 before the first instance created it). */
/** The ids of [0, n) missing from `table`, as input positions: partition → offset ranges. */
async function missingRanges(table: string, n: number): Promise<string> {
  const missing = await db.query<{ id: number }>(
    `SELECT g AS id FROM generate_series(0, $1::int - 1) AS g WHERE NOT EXISTS (SELECT 1 FROM "${table}" WHERE id = g) ORDER BY g`,
    [n],
  )
  const ranges = new Map<number, [number, number][]>()
  for (const { id } of missing.rows) {
    const partition = id % PARTITIONS
    const offset = Math.floor(id / PARTITIONS)
    const list = ranges.get(partition) ?? []
    const last = list.at(-1)
    if (last && last[1] === offset - 1) last[1] = offset
    else list.push([offset, offset])
    ranges.set(partition, list)
  }
  return [...ranges]
    .map(([p, list]) => `${p}: ${list.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(' ')}`)
    .join('; ')
}

/** Each instance's log in a file of its own (for a failure to point at), their paths. */
async function keepLogs(instances: readonly Instance[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-scale-pg-logs-'))
  await Promise.all(instances.map((i, n) => writeFile(join(dir, `${n}-${i.name}.log`), i.stderr())))
  return dir
}

/** Per partition: the position its offsets row has, and the instance that committed it last. */
async function positions(): Promise<string> {
  const stored = await db.query<{ partition: string; position: string; instance: string }>(
    'SELECT partition, position, instance FROM sluice_offsets_partitions ORDER BY partition',
  )
  return stored.rows.map((r) => `${r.partition.split(':')[1]}@${r.position} by ${r.instance}`).join(', ')
}

/**
 * The database's sessions other than this one: what each runs or waits on, and which sessions block it
 * (a stall in this test is suspected to be a lock wait).
 */
async function sessions(): Promise<string> {
  const result = await db.query<{
    pid: number
    state: string | null
    wait: string | null
    blockers: number[]
    age: string | null
    query: string | null
  }>(
    `SELECT pid, state, wait_event_type || ':' || wait_event AS wait, pg_blocking_pids(pid) AS blockers,
            (now() - xact_start)::text AS age, left(query, 160) AS query
       FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,
  )
  return result.rows
    .map(
      (r) =>
        `${r.pid} ${r.state ?? '?'}${r.wait ? ` waits ${r.wait}` : ''}${r.blockers.length > 0 ? ` blocked by ${r.blockers.join(',')}` : ''}${r.age ? ` in a transaction for ${r.age}` : ''}: ${r.query ?? ''}`,
    )
    .join('\n')
}

async function rows(table: string): Promise<number> {
  const result = await db
    .query<{ n: string }>(`SELECT count(*) AS n FROM "${table}"`)
    .catch((error: { code?: string }) => {
      if (error.code === '42P01') return { rows: [{ n: '0' }] }
      throw error
    })
  return Number(result.rows[0]!.n)
}

/** Every id of [0, n) exactly once in `table`, and who wrote how many. */
async function assertExactlyOnce(table: string, n: number): Promise<Map<string, number>> {
  const duplicates = await db.query<{ id: string; n: string }>(
    `SELECT id, count(*) AS n FROM "${table}" GROUP BY id HAVING count(*) > 1 ORDER BY id LIMIT 10`,
  )
  assert.deepEqual(duplicates.rows, [], 'no input written twice')
  const missing = await db.query<{ id: number }>(
    `SELECT g AS id FROM generate_series(0, $1::int - 1) AS g WHERE NOT EXISTS (SELECT 1 FROM "${table}" WHERE id = g) LIMIT 10`,
    [n],
  )
  assert.deepEqual(missing.rows, [], 'every input written')
  assert.equal(await rows(table), n)
  const writers = await db.query<{ by: string; n: string }>(
    `SELECT by, count(*) AS n FROM "${table}" GROUP BY by`,
  )
  return new Map(writers.rows.map((r) => [r.by, Number(r.n)]))
}

describe('a stateless pipeline into PostgreSQL scaled out over several instances', () => {
  test('instances join, are SIGKILLed and replaced, and leave (1 → 3 → 2) while input arrives: every input one row', {
    timeout: 360_000,
  }, async () => {
    const input = await freshTopic('scale-pg-in', PARTITIONS)
    const table = `scaled_${input.replaceAll('-', '_')}`
    const checkpoints = new Map<string, string>()
    const running = new Map<string, Instance>()
    const started: Instance[] = []
    const start = async (name: string) => {
      if (!checkpoints.has(name)) checkpoints.set(name, await tempDir())
      running.set(
        name,
        startInstance('stateless-postgres', name, input, table, checkpoints.get(name)!, 'info'),
      )
      started.push(running.get(name)!)
    }
    const kill = async (name: string) => {
      const instance = running.get(name)!
      instance.child.kill('SIGKILL')
      await instance.exited
      running.delete(name)
    }
    const random = seeded(2718)
    const CHUNK = 10_000
    let produced = 0
    const produceChunk = async () => {
      await produceIds(input, produced, produced + CHUNK, PARTITIONS)
      produced += CHUNK
    }
    const progress = async (k: number) => {
      const target = Math.min(produced, (await rows(table)) + k)
      await waitFor(async () => (await rows(table)) >= target, 120_000, `${target} rows`).catch(
        async (error) => {
          throw new Error(
            `${error}; ${await rows(table)} rows; positions ${await positions()}\nsessions:\n${await sessions()}\n${await diagnose(input, [...running.values()])}\nlogs: ${await keepLogs(started)}`,
          )
        },
      )
    }
    try {
      await start('w1')
      await produceChunk()
      await progress(3000)
      await start('w2')
      await start('w3')
      for (let round = 0; round < 5; round++) {
        await produceChunk()
        await progress(1000 + Math.floor(random() * 4000))
        const victim = [...running.keys()][Math.floor(random() * running.size)]!
        await kill(victim)
        await start(victim)
      }
      await kill([...running.keys()][Math.floor(random() * running.size)]!)
      for (let round = 0; round < 3; round++) {
        await produceChunk()
        await progress(2000)
      }
      await waitFor(
        async () => (await rows(table)) >= produced,
        180_000,
        `all ${produced} inputs as rows`,
      ).catch(async (error) => {
        throw new Error(
          `${error}; ${await rows(table)} rows; missing offsets ${await missingRanges(table, produced)}; positions ${await positions()}\nsessions:\n${await sessions()}\n${await diagnose(input, [...running.values()])}\nlogs: ${await keepLogs(started)}`,
        )
      })
      const writers = await assertExactlyOnce(table, produced)
      assert.ok(writers.size >= 2, `the instances shared the input: ${JSON.stringify([...writers])}`)
    } finally {
      for (const name of [...running.keys()]) await kill(name)
    }
  })

  test('a zombie (SIGSTOP past its session timeout) is fenced by the partition positions when it wakes: every input one row', {
    timeout: 360_000,
  }, async () => {
    const input = await freshTopic('zombie-pg-in', PARTITIONS)
    const table = `zombie_${input.replaceAll('-', '_')}`
    const a = startInstance('stateless-postgres', 'z1', input, table, await tempDir(), 'info')
    const b = startInstance('stateless-postgres', 'z2', input, table, await tempDir(), 'info')
    const wrote = async (name: string) =>
      Number(
        (
          await db
            .query<{ n: string }>(`SELECT count(*) AS n FROM "${table}" WHERE by = $1`, [name])
            .catch(() => ({ rows: [{ n: '0' }] }))
        ).rows[0]!.n,
      )
    try {
      await waitForMembers(input, 2)
      let produced = 0
      while (!((await wrote('z1')) > 0 && (await wrote('z2')) > 0)) {
        assert.ok(produced < 40_000, 'both instances write within 40,000 inputs')
        await produceIds(input, produced, produced + 2000, PARTITIONS)
        produced += 2000
        await waitFor(async () => (await rows(table)) >= produced, 120_000, `${produced} rows`)
      }
      // Frozen, likely mid-batch; after the session timeout (10 s) z2 takes its partitions, reading where the
      // table has them.
      a.child.kill('SIGSTOP')
      await produceIds(input, produced, produced + 20_000, PARTITIONS)
      produced += 20_000
      await waitFor(async () => (await rows(table)) >= produced, 180_000, 'z2 to write everything')
      // Awake: whatever it had in flight for the partitions it lost is fenced by their rows' positions.
      a.child.kill('SIGCONT')
      await produceIds(input, produced, produced + 10_000, PARTITIONS)
      produced += 10_000
      await waitFor(async () => (await rows(table)) >= produced, 180_000, 'all inputs after the zombie woke')
      await assertExactlyOnce(table, produced)
    } finally {
      a.child.kill('SIGKILL')
      b.child.kill('SIGKILL')
      await Promise.all([a.exited, b.exited])
    }
  })
})
