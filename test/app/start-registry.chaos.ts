import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { type MainJobSummary, runMainJob } from '../../src/app/main-job.ts'
import { queryResults } from '../../src/app/query.ts'
import { silentLogger } from '../../src/log.ts'
import type { RegistryFormat } from '../../src/registry/schema-type.ts'
import { startRegistry, type TestRegistry } from '../helpers/apicurio.ts'
import { runCli } from '../helpers/cli.ts'
import { brokers } from '../helpers/kafka.ts'

// Issue 17: `npm start -- --format avro` runs the main job on Avro end to end, with the results of the JSON path.

let server: TestRegistry
const dirs: string[] = []
before(async () => {
  server = await startRegistry()
})
after(async () => {
  await server?.stop()
  for (const dir of dirs) await rm(dir, { recursive: true, force: true })
})

/** The same events for both runs: a fixed seed, start and count; no late or duplicate events (batch-dependent). */
const input = { seed: 1717, users: 1000, startTime: Date.now(), count: 2000, bad: 0.01, late: 0, dupes: 0 }

async function mainJob(name: string, format?: RegistryFormat): Promise<MainJobSummary> {
  const dataDir = await mkdtemp(join(tmpdir(), `sluice-start-registry-${name}-`))
  dirs.push(dataDir)
  return runMainJob({
    dataDir,
    brokers: brokers(),
    namespace: `reg-${name}-${process.pid}-${Date.now()}.`,
    ...(format ? { format: { type: format, registry: { url: server.url } } } : {}),
    port: 0,
    rate: 400,
    input,
    signal: new AbortController().signal,
    logger: silentLogger,
  })
}

async function tableRows(summary: MainJobSummary, table: string): Promise<string[]> {
  const rows = await queryResults(summary.outputs.warehouse, `SELECT * FROM ${table}`)
  return rows
    .map((row) =>
      JSON.stringify(row, (_, v) =>
        typeof v === 'bigint' ? Number(v) : v instanceof Date ? v.toISOString() : v,
      ),
    )
    .sort()
}

test('the main job on Avro through the registry gives the rows, lake and dead letters of the JSON run', async () => {
  const json = await mainJob('json')
  const avro = await mainJob('avro', 'avro')
  assert.equal(avro.produced.delivered, input.count)
  assert.equal(avro.produced.bad, json.produced.bad)
  assert.ok(json.lakeRows !== undefined && json.lakeRows > 1000, `lake: ${json.lakeRows}`)
  assert.equal(avro.lakeRows, json.lakeRows, 'as many events in the lake')
  for (const name of ['clean-events', 'page-metrics', 'sessions', 'revenue-alerts']) {
    const of = (s: MainJobSummary) => s.pipelines[`${s.outputs.namespace}${name}`]
    assert.ok(of(json) && of(avro), name)
    // The malformed events (JSON bytes, not the wire format, in the Avro run) are the only dead letters.
    assert.equal(of(avro)?.deadLetteredRows, of(json)?.deadLetteredRows, `${name}: dead letters`)
  }
  // The windowed pipelines' updates depend on how events fall into batches; their tables are compared below.
  const clean = (s: MainJobSummary) => s.pipelines[`${s.outputs.namespace}clean-events`]?.outputRows
  assert.equal(clean(avro), clean(json), 'clean events written')
  for (const table of ['page_metrics', 'sessions']) {
    const expected = await tableRows(json, table)
    assert.ok(expected.length > 50, `${table}: ${expected.length} rows`)
    assert.deepEqual(await tableRows(avro, table), expected, `${table}: the same rows`)
  }
})

test('sluice start --format avro without a registry says so in one line, before starting anything', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-start-registry-cli-'))
  dirs.push(dir)
  const env = { SCHEMA_REGISTRY_URL: '' }
  const none = await runCli(['start', '--format', 'avro', '--data-dir', dir, '--no-ui'], { env })
  assert.equal(none.code, 2, none.stderr)
  assert.equal(
    none.stderr,
    'sluice: --format avro needs a schema registry: --registry URL (or SCHEMA_REGISTRY_URL)\n',
  )
  const withJson = await runCli(['start', '--registry', server.url, '--data-dir', dir, '--no-ui'], { env })
  assert.equal(withJson.code, 2, withJson.stderr)
  assert.match(withJson.stderr, /--registry and its credentials are for --format avro/)
})
