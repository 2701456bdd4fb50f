import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { DuckDBInstance } from '@duckdb/node-api'
import { KafkaAdmin } from '../../src/connectors/kafka/admin.ts'
import { runCli } from '../helpers/cli.ts'
import { brokers } from '../helpers/kafka.ts'

let dir: string | undefined
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

function summary(stdout: string, ns: string) {
  const pipeline = (name: string) => {
    const id = `${ns}${name}`.replaceAll('.', '\\.')
    const m = new RegExp(
      `^${id}\\s+(\\d+) processed, (\\d+) written, (\\d+) dead-lettered, (\\d+) late, (\\d+) duplicates`,
      'm',
    ).exec(stdout)
    assert.ok(m, `no summary line for ${id} in:\n${stdout}`)
    const [processed, written, deadLettered, late, duplicates] = m.slice(1).map(Number) as number[]
    return { processed, written, deadLettered, late, duplicates } as Record<
      'processed' | 'written' | 'deadLettered' | 'late' | 'duplicates',
      number
    >
  }
  const table = (name: string) => Number(new RegExp(`${name} (\\d+) rows`).exec(stdout)?.[1])
  return {
    produced: Number(/^Produced (\d+) events/m.exec(stdout)?.[1]),
    malformed: Number(/^Produced \d+ events \((\d+) malformed/m.exec(stdout)?.[1]),
    clean: pipeline('clean-events'),
    pageMetrics: pipeline('page-metrics'),
    sessions: pipeline('sessions'),
    alerts: pipeline('revenue-alerts'),
    lake: Number(/^Lake .*: (\d+) events\.$/m.exec(stdout)?.[1]),
    tables: { page_metrics: table('page_metrics'), sessions: table('sessions') },
  }
}

/** Counted independently of Sluice's commit log: DuckDB reads the Parquet files of the lake's partitions. */
async function parquetRows(lake: string): Promise<number> {
  const instance = await DuckDBInstance.create(':memory:')
  const connection = await instance.connect()
  try {
    const reader = await connection.runAndReadAll(
      `SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM read_parquet('${lake}/event_date=*/event_type=*/*.parquet', hive_partitioning = true)`,
    )
    const row = reader.getRowObjectsJS()[0] as { n: bigint; ids: bigint }
    assert.equal(row.n, row.ids, 'no event is in the lake twice')
    return Number(row.n)
  } finally {
    connection.closeSync()
    instance.closeSync()
  }
}

async function topicSize(topic: string): Promise<number> {
  const admin = new KafkaAdmin({ brokers: brokers() })
  try {
    let n = 0
    for (const offset of (await admin.offsets(topic)).values()) n += Number(offset)
    return n
  } finally {
    await admin.close()
  }
}

test('sluice start runs the clickstream ETL for a duration, lands consistent results, and resumes', {
  timeout: 300_000,
}, async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-start-'))
  // A namespace of its own: other tests (and earlier runs on a shared broker) leave the default topics alone.
  const ns = `t${process.pid}-${Date.now()}.`
  const args = [
    'start',
    '--duration',
    '6s',
    '--rate',
    '300',
    // No history: this test checks what a short run lands and how a second one resumes
    // (test/app/start-first-minute.test.ts runs the default history).
    '--history',
    '0',
    '--data-dir',
    dir,
    '--brokers',
    brokers(),
    '--namespace',
    ns,
  ]
  const first = await runCli(args, { timeoutMs: 90_000 })
  assert.equal(first.code, 0, first.stderr)
  assert.match(first.stderr, /listen: +npx sluice listen/)
  assert.match(first.stderr, /query: +npx sluice query --data-dir /)
  assert.match(first.stderr, /Dashboard: http:\/\/127\.0\.0\.1:\d+\//)
  const a = summary(first.stdout, ns)
  assert.ok(a.produced > 0, first.stdout) // how many depends on how busy the machine is
  for (const p of [a.clean, a.pageMetrics, a.sessions]) assert.equal(p.processed, a.produced, first.stdout)
  // Every produced event is accounted for: in the lake, dead-lettered (malformed or late), or a dropped duplicate.
  assert.equal(a.clean.written + a.clean.deadLettered + a.clean.duplicates, a.produced, first.stdout)
  assert.ok(a.clean.deadLettered >= a.malformed && a.malformed > 0, first.stdout)
  assert.equal(a.lake, a.clean.written)
  assert.equal(await parquetRows(join(dir, 'lake', 'events')), a.lake)
  assert.equal(await topicSize(`${ns}events.dlq`), a.clean.deadLettered, 'dead letters are in events.dlq')
  assert.ok(a.tables.page_metrics > 0 && a.tables.page_metrics <= a.pageMetrics.written, first.stdout)
  assert.ok(a.tables.sessions > 0 && a.tables.sessions <= a.sessions.written, first.stdout)

  const query = await runCli(
    [
      'query',
      '--json',
      '--data-dir',
      dir,
      'SELECT (SELECT count(*) FROM events) AS lake, (SELECT count(*) FROM sessions) AS sessions',
    ],
    { timeoutMs: 30_000 },
  )
  assert.equal(query.code, 0, query.stderr)
  assert.deepEqual(JSON.parse(query.stdout), { lake: a.lake, sessions: a.tables.sessions })
  const badQuery = await runCli(['query', '--data-dir', dir, 'SELECT nope'], { timeoutMs: 30_000 })
  assert.notEqual(badQuery.code, 0)
  assert.match(badQuery.stderr, /^sluice: query failed: .*"nope"/)

  const second = await runCli(args, { timeoutMs: 90_000 })
  assert.equal(second.code, 0, second.stderr)
  const b = summary(second.stdout, ns)
  assert.equal(b.clean.processed, b.produced, 'the second run processed only the new events')
  assert.equal(b.lake, a.lake + b.clean.written, 'the lake grew by the second run only')
  assert.equal(await parquetRows(join(dir, 'lake', 'events')), b.lake)
  assert.ok(b.tables.sessions >= a.tables.sessions)
})
