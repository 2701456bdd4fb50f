import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { type MainJobSummary, runMainJob } from '../../src/app/main-job.ts'
import { queryResults } from '../../src/app/query.ts'
import type { Warehouse } from '../../src/app/warehouse.ts'
import { silentLogger } from '../../src/log.ts'
import { brokers } from '../helpers/kafka.ts'
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts'

// Issue 12, item 3: with PostgreSQL as the warehouse every converted session was dropped (`revenue` was
// created BIGINT from a first batch of whole sums, and 19.99 was a dead letter). The same run into either
// warehouse must give the same rows.

let database: TestPostgres
const dirs: string[] = []
before(async () => {
  database = await startPostgres()
})
after(async () => {
  await database?.stop()
  for (const dir of dirs) await rm(dir, { recursive: true, force: true })
})

/**
 * The same events for both runs: a fixed seed, start and count; no late or duplicate events (whether an event
 * is late depends on the batches). Paced (10 s of events) so that the first batches hold sessions without a
 * purchase yet, whose revenue is a whole 0, as in the issue.
 */
const input = { seed: 1212, users: 1000, startTime: Date.now(), count: 4000, bad: 0.01, late: 0, dupes: 0 }

async function mainJob(name: string, databaseUrl?: string): Promise<MainJobSummary> {
  const dataDir = await mkdtemp(join(tmpdir(), `sluice-warehouses-${name}-`))
  dirs.push(dataDir)
  return runMainJob({
    dataDir,
    brokers: brokers(),
    ...(databaseUrl ? { databaseUrl } : {}),
    namespace: `wh-${name}-${process.pid}-${Date.now()}.`,
    port: 0,
    rate: 400,
    input,
    signal: new AbortController().signal,
    logger: silentLogger,
  })
}

/**
 * A table's rows as comparable text, sorted: timestamps as ISO text, numbers as numbers (the drivers give
 * BIGINT as bigint (DuckDB) or as a string of digits (pg)).
 */
async function rowsOf(warehouse: Warehouse, table: string, columns: readonly string[]): Promise<string[]> {
  const rows = await queryResults(warehouse, `SELECT ${columns.join(', ')} FROM ${table}`)
  return rows
    .map((row) =>
      JSON.stringify(
        columns.map((c) => {
          const v = row[c]
          if (v instanceof Date) return v.toISOString()
          if (typeof v === 'bigint' || (NUMBERS.has(c) && typeof v === 'string')) return Number(v)
          return v
        }),
      ),
    )
    .sort()
}

const TABLES = {
  page_metrics: ['page', 'window_start', 'window_end', 'views', 'clicks', 'users'],
  sessions: ['user_id', 'session_start', 'session_end', 'events', 'pages', 'converted', 'revenue'],
} as const
const NUMBERS = new Set(['views', 'clicks', 'users', 'events', 'pages', 'revenue'])

test('the main job gives the same rows per table in PostgreSQL as in DuckDB, converted sessions included', {
  timeout: 300_000,
}, async () => {
  const duck = await mainJob('duckdb')
  const pg = await mainJob('postgres', database.url)
  assert.equal(duck.produced.delivered, input.count)
  assert.equal(pg.produced.delivered, input.count)
  for (const [table, columns] of Object.entries(TABLES)) {
    const inDuckDB = await rowsOf(duck.outputs.warehouse, table, columns)
    const inPostgres = await rowsOf(pg.outputs.warehouse, table, columns)
    assert.ok(inDuckDB.length > 100, `${table}: ${inDuckDB.length} rows`)
    assert.equal(inPostgres.length, inDuckDB.length, `${table}: as many rows in PostgreSQL as in DuckDB`)
    if (process.env.DUMP) {
      const { writeFileSync } = await import('node:fs')
      writeFileSync(`/tmp/${table}.pg`, inPostgres.join('\n'))
      writeFileSync(`/tmp/${table}.duck`, inDuckDB.join('\n'))
    }
    assert.deepEqual(inPostgres, inDuckDB, `${table}: the same rows`)
  }

  // What the issue saw: converted sessions with fractional revenue, and no dead letter from the table.
  const [converted] = await queryResults(
    pg.outputs.warehouse,
    `SELECT count(*) FILTER (WHERE converted)::int AS converted,
            count(*) FILTER (WHERE revenue <> round(revenue))::int AS fractional
       FROM sessions`,
  )
  assert.ok(Number(converted?.converted) > 0, 'converted sessions in PostgreSQL')
  assert.ok(Number(converted?.fractional) > 0, 'revenue with cents in PostgreSQL')
  const sinkLetters = await queryResults(
    pg.outputs.warehouse,
    "SELECT reason FROM sluice_dead_letters WHERE operator LIKE 'sink%'",
  )
  assert.deepEqual(sinkLetters, [], 'no row refused by a warehouse table')
  // Only the malformed events are dead letters (the pipeline's own), as many in both runs.
  const dead = (summary: MainJobSummary) =>
    summary.pipelines[`${summary.outputs.namespace}sessions`]?.deadLetteredRows
  assert.ok((dead(duck) ?? 0) > 0)
  assert.equal(dead(pg), dead(duck))

  // The column types come from the declared rows, the same in both warehouses.
  const pgTypes = await queryResults(
    pg.outputs.warehouse,
    `SELECT column_name AS c, data_type AS t FROM information_schema.columns
      WHERE table_schema = current_schema() AND table_name = 'sessions' ORDER BY ordinal_position`,
  )
  assert.deepEqual(Object.fromEntries(pgTypes.map((r) => [r.c, r.t])), {
    user_id: 'text',
    session_start: 'timestamp with time zone',
    session_end: 'timestamp with time zone',
    events: 'bigint',
    pages: 'bigint',
    converted: 'boolean',
    revenue: 'double precision',
  })
  const duckTypes = await queryResults(
    duck.outputs.warehouse,
    "SELECT column_name AS c, data_type AS t FROM duckdb_columns() WHERE table_name = 'sessions' ORDER BY column_index",
  )
  assert.deepEqual(Object.fromEntries(duckTypes.map((r) => [r.c, r.t])), {
    user_id: 'VARCHAR',
    session_start: 'TIMESTAMP WITH TIME ZONE',
    session_end: 'TIMESTAMP WITH TIME ZONE',
    events: 'BIGINT',
    pages: 'BIGINT',
    converted: 'BOOLEAN',
    revenue: 'DOUBLE',
  })
})
