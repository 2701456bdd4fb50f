import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { KafkaProducer } from '../../src/connectors/kafka/producer.ts'
import type { Snapshot } from '../../src/ui/dashboard-state.ts'
import { SLUICE_BIN } from '../helpers/cli.ts'
import { brokers, freshTopic } from '../helpers/kafka.ts'
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts'
import { waitFor } from '../helpers/wait.ts'

/**
 * The dashboard shows a task restoring (issue 13, item 6): an instance started with an empty state directory
 * restores its partitions' keyed state from the changelog in PostgreSQL, and /api/snapshot shows them
 * restoring, then running. The restore is held, not raced: the test locks the changelog table, so the
 * instance's restore waits at its first read until the test lets it go.
 */

const PIPELINE = fileURLToPath(new URL('../fixtures/keyed-postgres-pipeline.ts', import.meta.url))
const PARTITIONS = 6
const KEYS = 60

let dir: string
let database: TestPostgres
let db: pg.Pool
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-restoring-'))
  database = await startPostgres()
  db = new pg.Pool({ connectionString: database.url, max: 2 })
})
after(async () => {
  await db?.end()
  await database?.stop()
  await rm(dir, { recursive: true, force: true })
})

/** `sluice run` of the fixture as the instance `name`, its stderr collected. */
function startRun(
  name: string,
  input: string,
  table: string,
  extra: readonly string[],
): { child: ChildProcess; stderr: () => string; exited: Promise<number | null> } {
  const child = spawn(
    process.execPath,
    [
      SLUICE_BIN,
      'run',
      PIPELINE,
      '--instance',
      name,
      '--checkpoint',
      join(dir, name),
      '--brokers',
      brokers(),
      ...extra,
    ],
    {
      env: { ...process.env, INPUT: input, TABLE: table, SINK_DATABASE_URL: database.url },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  )
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return { child, stderr: () => stderr, exited }
}

test('an instance with an empty state directory shows its partitions restoring from the changelog, then running', {
  timeout: 240_000,
}, async () => {
  const input = await freshTopic('restoring-in', PARTITIONS)
  const table = `counts_${input.replaceAll('-', '_')}`
  // 3,000 events over 60 keys, 20 ms of event time apart: the last windows stay open, so state remains.
  const producer = new KafkaProducer({ brokers: brokers() })
  try {
    await producer.send(
      Array.from({ length: 3000 }, (_, i) => ({
        topic: input,
        key: `k${i % KEYS}`,
        value: JSON.stringify({ t: Date.UTC(2026, 0, 1) + i * 20 }),
        partition: (i % KEYS) % PARTITIONS,
      })),
    )
  } finally {
    await producer.close()
  }

  // The first instance keeps the keyed state, in the changelog table, and stops.
  const first = startRun('a', input, table, [])
  try {
    await waitFor(
      async () => {
        const rows = await db
          .query<{ n: string }>('SELECT count(*) AS n FROM sluice_changelog')
          .catch((error: { code?: string }) => {
            if (error.code === '42P01') return { rows: [{ n: '0' }] }
            throw error
          })
        return Number(rows.rows[0]!.n) > 0
      },
      120_000,
      'keyed state in the changelog table',
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${first.stderr()}`)
    })
  } finally {
    first.child.kill('SIGINT')
  }
  assert.equal(await first.exited, 0, first.stderr())

  // Held: the second instance's restore waits for this lock at its first read of the changelog.
  const lock = await db.connect()
  let locked = true
  const unlock = async () => {
    if (!locked) return
    locked = false
    await lock.query('ROLLBACK')
  }
  await lock.query('BEGIN')
  await lock.query('LOCK TABLE sluice_changelog IN ACCESS EXCLUSIVE MODE')
  const second = startRun('b', input, table, ['--ui', '--ui-port', '0'])
  try {
    await waitFor(() => /Dashboard: (http:\S+)/.test(second.stderr()), 60_000, 'the dashboard line')
    const url = /Dashboard: (http:\S+) /.exec(second.stderr())![1]!
    const mine = async () => {
      const snapshot = (await (await fetch(`${url}api/snapshot`)).json()) as Snapshot
      return snapshot.pipelines[0]?.group?.members.find((m) => m.instance === 'b')
    }
    let last: unknown
    const tasksOfB = async (state: 'restoring' | 'running') => {
      const member = await mine()
      last = member
      return (
        member !== undefined &&
        member.partitions.length > 0 &&
        member.partitions.every((p) => member.tasks?.[p] === state)
      )
    }
    await waitFor(() => tasksOfB('restoring'), 120_000, 'every partition of b restoring').catch(
      (error: unknown) => {
        throw new Error(`${String(error)}; last: ${JSON.stringify(last)}\n${second.stderr()}`)
      },
    )
    await unlock()
    await waitFor(() => tasksOfB('running'), 120_000, 'every partition of b running').catch(
      (error: unknown) => {
        throw new Error(`${String(error)}; last: ${JSON.stringify(last)}\n${second.stderr()}`)
      },
    )
  } finally {
    await unlock()
    lock.release()
    second.child.kill('SIGINT')
  }
  assert.equal(await second.exited, 0, second.stderr())
})
