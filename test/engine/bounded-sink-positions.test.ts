import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import mysql2 from 'mysql2/promise'
import pg from 'pg'
import { z } from 'zod'
import { KafkaAdmin } from '../../src/connectors/kafka/admin.ts'
import { KafkaProducer } from '../../src/connectors/kafka/producer.ts'
import { kafka } from '../../src/connectors/kafka/source.ts'
import { mysql } from '../../src/connectors/mysql/index.ts'
import { postgres } from '../../src/connectors/postgres/index.ts'
import type { Pipeline } from '../../src/dsl/stream.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { run } from '../../src/runtime/run.ts'
import type { SinkSpec } from '../../src/runtime/sink.ts'
import { brokers, freshTopic, uniqueGroup } from '../helpers/kafka.ts'
import { type MariaDb, startMariaDb } from '../helpers/mariadb.ts'
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts'

/**
 * A bounded run (availableNow) of a pipeline whose sink keeps its positions in its own database ends when
 * those positions are already at the input's end, even though the consumer group has no offsets (deleted by
 * `sluice reset` without --postgres, or by hand): the run reads the input again from the group's fallback,
 * the sink's positions drop every record, and nothing is committed to the group by a batch.
 */

const PARTITIONS = 3
const EVENTS = 3000
/** How long each run may take before the test calls it hung: the runs here take a few seconds. */
const RUN_LIMIT_MS = 60_000

const Event = z.object({ id: z.number().int(), key: z.string(), t: z.number() })
type Event = z.infer<typeof Event>
const T0 = Date.UTC(2026, 0, 1)

let database: TestPostgres
let db: pg.Pool
let maria: MariaDb | undefined
const dirs: string[] = []
before(async () => {
  database = await startPostgres()
  db = new pg.Pool({ connectionString: database.url, max: 1 })
})
after(async () => {
  await db?.end()
  await database?.stop()
  await maria?.stop()
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

async function inputTopic(): Promise<string> {
  const topic = await freshTopic('avnow-in', PARTITIONS)
  const producer = new KafkaProducer({ brokers: brokers() })
  try {
    await producer.send(
      Array.from({ length: EVENTS }, (_, id) => ({
        topic,
        key: `k${id % 30}`,
        value: JSON.stringify({ id, key: `k${id % 30}`, t: T0 + id * 10 }),
      })),
    )
  } finally {
    await producer.close()
  }
  return topic
}

async function checkpointDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-avnow-'))
  dirs.push(dir)
  return dir
}

/** The sum of the group's committed offsets on `topic`. */
async function groupCommitted(groupId: string, topic: string): Promise<number> {
  const admin = new KafkaAdmin({ brokers: brokers() })
  try {
    return [...(await admin.committedOffsets(groupId, topic)).values()].reduce((sum, o) => sum + Number(o), 0)
  } finally {
    await admin.close()
  }
}

async function deleteGroup(groupId: string): Promise<void> {
  const admin = new KafkaAdmin({ brokers: brokers() })
  try {
    await admin.deleteGroup(groupId)
  } finally {
    await admin.close()
  }
}

/** Runs `p` with availableNow, bounded by RUN_LIMIT_MS: a run that had to be stopped fails the test. */
async function runAvailableNow(p: Pipeline<Event>, checkpoint: string) {
  const limit = AbortSignal.timeout(RUN_LIMIT_MS)
  const summary = await run(p, { checkpoint, trigger: { kind: 'availableNow' }, signal: limit })
  assert.equal(limit.aborted, false, `the availableNow run had not ended after ${RUN_LIMIT_MS} ms`)
  return summary
}

type Shape = 'stateless' | 'keyed'

function events(name: string, topic: string, groupId: string, shape: Shape, sink: SinkSpec<Event>) {
  const read = pipeline(name)
    .from(kafka({ brokers: brokers(), topics: topic, groupId, startingOffsets: 'earliest' }))
    .parse(Event)
  const steps =
    shape === 'keyed' ? read.withWatermark('t', '0s').dedupe((e) => e.id, '1m', { partitioned: true }) : read
  return steps.to(sink)
}

/**
 * Runs the pipeline to the input's end, deletes its consumer group, runs it again (a fresh checkpoint too,
 * when `freshCheckpoint`): the second run ends, reads nothing new and writes no row twice.
 */
async function rerunWithoutGroup(options: {
  readonly shape: Shape
  readonly sink: (table: string) => SinkSpec<Event>
  readonly countRows: (table: string) => Promise<{ rows: number; ids: number }>
  readonly freshCheckpoint?: boolean
  readonly scaledOut: boolean
}): Promise<void> {
  const topic = await inputTopic()
  const id = `avnow${uniqueGroup('').slice(1).replaceAll('-', '')}`
  const groupId = `sluice-${id}`
  const table = `out_${id}`
  const checkpoint = await checkpointDir()
  const p = () => events(id, topic, groupId, options.shape, options.sink(table))

  const first = await runAvailableNow(p(), checkpoint)
  assert.equal(first.inputRows, EVENTS)
  assert.deepEqual(await options.countRows(table), { rows: EVENTS, ids: EVENTS })

  await deleteGroup(groupId)
  const second = await runAvailableNow(p(), options.freshCheckpoint ? await checkpointDir() : checkpoint)
  assert.deepEqual([second.inputRows, second.outputRows], [0, 0], 'the sink already holds every input')
  assert.deepEqual(await options.countRows(table), { rows: EVENTS, ids: EVENTS }, 'no row written twice')
  // A scaled-out run reads the input again from the group's fallback and so brings the group's offsets up
  // to the sink's positions (lag tools see none left); scaleOut: false starts at the sink's one position.
  if (options.scaledOut) assert.equal(await groupCommitted(groupId, topic), EVENTS)
}

async function postgresRows(table: string): Promise<{ rows: number; ids: number }> {
  const result = await db.query<{ n: string; ids: string }>(
    `SELECT count(*) AS n, count(DISTINCT id) AS ids FROM "${table}"`,
  )
  return { rows: Number(result.rows[0]?.n), ids: Number(result.rows[0]?.ids) }
}

describe('availableNow when the sink already holds the input and the group has no offsets', () => {
  test('PostgreSQL, stateless, scaled out (a position per partition)', async () => {
    await rerunWithoutGroup({
      scaledOut: true,
      shape: 'stateless',
      sink: (table) => postgres<Event>({ url: database.url, table, createTable: true }),
      countRows: postgresRows,
    })
  })

  test('PostgreSQL, stateless, scaled out, with a fresh checkpoint too', async () => {
    await rerunWithoutGroup({
      scaledOut: true,
      shape: 'stateless',
      sink: (table) => postgres<Event>({ url: database.url, table, createTable: true }),
      countRows: postgresRows,
      freshCheckpoint: true,
    })
  })

  test('PostgreSQL, keyed state (dedupe), scaled out', async () => {
    await rerunWithoutGroup({
      scaledOut: true,
      shape: 'keyed',
      sink: (table) => postgres<Event>({ url: database.url, table, createTable: true }),
      countRows: postgresRows,
    })
  })

  test('PostgreSQL, scaleOut: false (one position for the pipeline)', async () => {
    await rerunWithoutGroup({
      scaledOut: false,
      shape: 'stateless',
      sink: (table) => postgres<Event>({ url: database.url, table, createTable: true, scaleOut: false }),
      countRows: postgresRows,
      freshCheckpoint: true,
    })
  })

  test('MariaDB, stateless, scaled out (a position per partition)', async () => {
    maria ??= await startMariaDb()
    const url = maria.url
    await rerunWithoutGroup({
      scaledOut: true,
      shape: 'stateless',
      sink: (table) => mysql<Event>({ url, table, createTable: true }),
      countRows: async (table) => {
        const conn = await mysql2.createConnection({ uri: url })
        try {
          const [rows] = await conn.query(`SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS ids FROM \`${table}\``)
          const row = (rows as { n: number | string; ids: number | string }[])[0]
          return { rows: Number(row?.n), ids: Number(row?.ids) }
        } finally {
          await conn.end()
        }
      },
    })
  })
})
