import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import pg from 'pg'
import { runCli } from '../helpers/cli.ts'
import { brokers } from '../helpers/kafka.ts'
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts'

let database: TestPostgres
let dir: string

before(async () => {
  database = await startPostgres()
  dir = await mkdtemp(join(tmpdir(), 'sluice-start-pg-'))
})
after(async () => {
  await database?.stop()
  if (dir) await rm(dir, { recursive: true, force: true })
})

test('with DATABASE_URL the main job writes its warehouse tables to PostgreSQL, and sluice query reads them', async () => {
  const ns = `pg${process.pid}-${Date.now()}.`
  const env = { DATABASE_URL: database.url }
  // No history (see test/app/start.test.ts).
  const args = [
    ...['start', '--duration', '5s', '--rate', '300', '--history', '0'],
    ...['--data-dir', dir, '--brokers', brokers()],
  ]
  const run = await runCli([...args, '--namespace', ns, '--no-ui'], { env, timeoutMs: 90_000 })
  assert.equal(run.code, 0, run.stderr)
  assert.match(run.stderr, /warehouse: PostgreSQL postgres/)
  const stated = /page_metrics (\d+) rows, sessions (\d+) rows/.exec(run.stdout)
  assert.ok(stated, run.stdout)
  const [pageMetrics, sessions] = [Number(stated[1]), Number(stated[2])]
  assert.ok(pageMetrics > 0 && sessions > 0, run.stdout)

  const client = new pg.Client({ connectionString: database.url })
  await client.connect()
  try {
    const counts = await client.query<{ p: string; s: string; bad: string }>(
      `SELECT (SELECT count(*) FROM page_metrics) AS p, (SELECT count(*) FROM sessions) AS s,
              (SELECT count(*) FROM sessions WHERE events < 1 OR session_end < session_start) AS bad`,
    )
    assert.deepEqual(counts.rows[0], { p: String(pageMetrics), s: String(sessions), bad: '0' })
  } finally {
    await client.end()
  }

  const query = await runCli(
    ['query', '--json', '--data-dir', dir, 'SELECT count(*)::int AS n FROM sessions'],
    {
      env,
      timeoutMs: 30_000,
    },
  )
  assert.equal(query.code, 0, query.stderr)
  assert.deepEqual(JSON.parse(query.stdout), { n: sessions })
})
