import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { DuckDBInstance } from '@duckdb/node-api'
import pg from 'pg'
import { runCli } from '../helpers/cli.ts'
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts'

let dir: string
let postgres: TestPostgres
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-query-'))
  postgres = await startPostgres()
})
after(async () => {
  await postgres?.stop()
  await rm(dir, { recursive: true, force: true })
})

test('sluice query --duckdb FILE reads that file; a table that is not there is "no warehouse yet"', async () => {
  const file = join(dir, 'wh.duckdb')
  const instance = await DuckDBInstance.create(file)
  const connection = await instance.connect()
  await connection.run("CREATE TABLE page_metrics AS SELECT '/a' AS page, 3 AS views")
  connection.closeSync()
  instance.closeSync()
  const ok = await runCli(['query', '--json', '--duckdb', file, 'SELECT page, views FROM page_metrics'])
  assert.equal(ok.code, 0, ok.stderr)
  assert.deepEqual(JSON.parse(ok.stdout), { page: '/a', views: 3 })

  const missing = await runCli(['query', '--duckdb', join(dir, 'none.duckdb'), 'SELECT * FROM sessions'])
  assert.equal(missing.code, 1)
  assert.match(missing.stderr, /^sluice: no warehouse yet: .*none\.duckdb has no table sessions.*npm start/)
  assert.doesNotMatch(missing.stderr, /Did you mean/)
})

test('sluice query --postgres URL reads PostgreSQL; a table that is not there is "no warehouse yet"', async () => {
  const client = new pg.Client({ connectionString: postgres.url })
  await client.connect()
  try {
    await client.query("CREATE TABLE page_metrics AS SELECT '/b'::text AS page, 5 AS views")
  } finally {
    await client.end()
  }
  const ok = await runCli([
    'query',
    '--json',
    '--postgres',
    postgres.url,
    'SELECT page, views FROM page_metrics',
  ])
  assert.equal(ok.code, 0, ok.stderr)
  assert.deepEqual(JSON.parse(ok.stdout), { page: '/b', views: 5 })

  const missing = await runCli(['query', '--postgres', postgres.url, 'SELECT * FROM sessions'])
  assert.equal(missing.code, 1)
  assert.match(missing.stderr, /^sluice: no warehouse yet: .* has no table sessions.*npm start/)
  assert.doesNotMatch(missing.stderr, /Did you mean|pg_am/)
})
