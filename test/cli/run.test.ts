import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { DuckDBInstance } from '@duckdb/node-api'
import { defaultOutputs, revenueAlerts } from '../../src/app/demo-pipelines.ts'
import { ClickstreamGenerator } from '../../src/clickstream/generator.ts'
import { type ClickEventRecord, clickEventSchema } from '../../src/clickstream/zod-schema.ts'
import { KafkaConsumer } from '../../src/connectors/kafka/consumer.ts'
import { kafka } from '../../src/connectors/kafka/source.ts'
import { memory } from '../../src/connectors/testing/memory.ts'
import { zodValidator } from '../../src/dsl/parse.ts'
import { Pipeline } from '../../src/dsl/stream.ts'
import { produceClickstream } from '../../src/producer/index.ts'
import { run } from '../../src/runtime/run.ts'
import { readTable } from '../connectors/lake/helpers.ts'
import { runCli } from '../helpers/cli.ts'
import { brokers, topicExists, uniqueGroup } from '../helpers/kafka.ts'

/**
 * `sluice run` end to end: the example YAML pipelines run with --available-now against the real broker over
 * a bounded clickstream produced first, and their outputs are checked against the input computed
 * independently; bad files fail with exit 2 before anything is created.
 */

const T0 = Date.parse('2026-11-25T10:00:00Z')
const COUNT = 3000
const input = { seed: 21, users: 400, startTime: T0, bad: 0.02 }

let dir: string
const ns = `run${randomUUID().slice(0, 8)}-`

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  )
}

/** The values on a topic (read committed), read until `n` records and then quiet, or quiet for 3 s. */
async function readTopic(topic: string, n: number): Promise<{ key: string; value: unknown }[]> {
  const consumer = new KafkaConsumer({
    brokers: brokers(),
    groupId: uniqueGroup('run-verify'),
    topics: [topic],
    start: { from: 'earliest' },
  })
  const out: { key: string; value: unknown }[] = []
  try {
    let quiet = 0
    for await (const batch of consumer.batches({
      maxRecords: 10_000,
      lingerMs: 50,
      idleMs: 500,
      signal: AbortSignal.timeout(60_000),
    })) {
      for (const r of batch) out.push({ key: String(r.key), value: JSON.parse(String(r.value)) })
      quiet = batch.length === 0 ? quiet + 1 : 0
      if ((out.length >= n && quiet >= 2) || quiet >= 6) break
    }
  } finally {
    await consumer.close()
  }
  return out
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-run-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('bad input: one line, exit 2, nothing started', () => {
  test('a bad expression names file, line and column; no checkpoint, no topic', async () => {
    const file = join(dir, 'bad.yaml')
    const topic = `${ns}never`
    await writeFile(
      file,
      `pipeline: bad\nsource: { kafka: { topics: ${ns}events } }\nsteps:\n  - filter: "event.a ="\nsink: { kafka: { topic: ${topic}, createPartitions: 1 } }\n`,
    )
    const checkpoint = join(dir, 'bad-cp')
    const r = await runCli([
      'run',
      file,
      '--available-now',
      '--brokers',
      brokers(),
      '--checkpoint',
      checkpoint,
    ])
    assert.equal(r.code, 2)
    assert.equal(r.stdout, '')
    assert.equal(r.stderr, `sluice: ${file}:4:22: Unexpected character: = in expression "event.a ="\n`)
    assert.equal(await exists(checkpoint), false)
    assert.equal(await topicExists(topic), false)
  })

  test('an unknown operator, a missing file and an unknown file type', async () => {
    const file = join(dir, 'op.yaml')
    await writeFile(
      file,
      'pipeline: op\nsource: { generator: { count: 1 } }\nsteps:\n  - mapp: event\nsink: { console: }\n',
    )
    const unknown = await runCli(['run', file])
    assert.equal(unknown.code, 2)
    assert.match(
      unknown.stderr,
      /^sluice: .*op\.yaml:4:5: steps\[0\]: unknown step "mapp" \(did you mean "map"\?\)/,
    )
    assert.equal(unknown.stderr.trim().split('\n').length, 1)
    const missing = await runCli(['run', join(dir, 'nope.yaml')])
    assert.equal(missing.code, 2)
    assert.equal(missing.stderr, `sluice: ${join(dir, 'nope.yaml')}: no such file\n`)
    const other = await runCli(['run', join(dir, 'x.toml')])
    assert.equal(other.code, 2)
    assert.match(other.stderr, /expected a YAML pipeline file/)
  })

  test('--available-now and another --trigger contradict each other', async () => {
    const r = await runCli(['run', 'examples/page-metrics.yaml', '--available-now', '--trigger', 'once'])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /contradict/)
  })

  test('a TypeScript module without a pipeline export is refused with what it exports', async () => {
    const file = join(dir, 'nothing.ts')
    await writeFile(file, 'export const answer = 42\n')
    const r = await runCli(['run', file, '--dry-run'])
    assert.equal(r.code, 2)
    assert.match(
      r.stderr,
      /export the pipeline as the default export or as "pipeline" \(found exports: answer\)/,
    )
  })
})

test('--dry-run prints the plan of a YAML file and of a TypeScript module, and starts nothing', async () => {
  const yaml = await runCli(
    ['run', 'examples/page-metrics.yaml', '--dry-run', '--checkpoint', join(dir, 'dry')],
    {
      env: { SLUICE_NAMESPACE: 'dry-' },
    },
  )
  assert.equal(yaml.code, 0, yaml.stderr)
  assert.match(
    yaml.stdout,
    /^pipeline dry-page-metrics-yaml\n {2}source {4}source {2}type=kafka topics=\["dry-events"\]/,
  )
  assert.match(yaml.stdout, /window {4}window {2}window=\{"kind":"tumbling","size":60000\}/)
  assert.match(yaml.stdout, /checkpoint .*dry {2}trigger every 1000 ms/)
  const ts = await runCli(['run', 'examples/page-metrics.ts', '--dry-run', '--trigger', 'availableNow'])
  assert.equal(ts.code, 0, ts.stderr)
  assert.match(ts.stdout, /^pipeline page-metrics-ts\n/)
  assert.match(ts.stdout, /trigger availableNow/)
  assert.equal(await exists(join(dir, 'dry')), false)
})

describe('the example YAML pipelines over a bounded clickstream in Kafka', () => {
  const valid: ClickEventRecord[] = []
  let bad = 0

  before(async () => {
    const summary = await produceClickstream({
      ...input,
      count: COUNT,
      destination: { kind: 'kafka', brokers: brokers(), topic: `${ns}events`, partitions: 3 },
    })
    assert.equal(summary.delivered, COUNT)
    const validate = zodValidator(clickEventSchema)
    const generator = new ClickstreamGenerator(input)
    for (let i = 0; i < COUNT; i++) {
      const result = validate(generator.next().value)
      if (result.ok) valid.push(result.value as ClickEventRecord)
      else bad++
    }
    assert.equal(bad, summary.bad)
  })

  async function runExample(name: string) {
    const r = await runCli(
      [
        'run',
        `examples/${name}.yaml`,
        '--available-now',
        '--brokers',
        brokers(),
        '--checkpoint',
        join(dir, `cp-${name}`),
      ],
      { env: { SLUICE_NAMESPACE: ns, SLUICE_DATA_DIR: dir }, timeoutMs: 120_000 },
    )
    assert.equal(r.code, 0, r.stderr)
    const line = r.stderr.split('\n').find((l) => l.startsWith(`${ns}${name}-yaml: `))
    assert.ok(line, `a summary line in:\n${r.stderr}`)
    const [, records, out, dead] =
      /: (\d+) records in .* (\d+) rows out, (\d+) dead-lettered/.exec(line) ?? []
    assert.equal(Number(records), COUNT, line)
    assert.equal(Number(dead), bad, line)
    return { rowsOut: Number(out), stderr: r.stderr }
  }

  async function query(sql: string): Promise<Record<string, unknown>[]> {
    const db = await DuckDBInstance.create(join(dir, 'warehouse.duckdb'))
    const connection = await db.connect()
    try {
      return (await connection.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[]
    } finally {
      connection.closeSync()
      db.closeSync()
    }
  }

  test('page-metrics: views and clicks per page add up to the input', async () => {
    await runExample('page-metrics')
    const [row] = await query(
      'SELECT sum(views) AS views, sum(clicks) AS clicks, count(DISTINCT page) AS pages FROM page_metrics',
    )
    assert.equal(Number(row?.views), valid.filter((e) => e.event_type === 'page_view').length)
    assert.equal(Number(row?.clicks), valid.filter((e) => e.event_type === 'click').length)
    assert.equal(Number(row?.pages), new Set(valid.map((e) => e.page.path)).size)
  })

  test('sessions: one session or more for every user, purchases marked as converted', async () => {
    await runExample('sessions')
    const [row] = await query(
      'SELECT count(DISTINCT user_id) AS users, count(DISTINCT user_id) FILTER (WHERE converted) AS buyers FROM sessions',
    )
    assert.equal(Number(row?.users), new Set(valid.map((e) => e.user_id)).size)
    assert.equal(
      Number(row?.buyers),
      new Set(valid.filter((e) => e.event_type === 'purchase').map((e) => e.user_id)).size,
    )
  })

  test('clean-events: every valid event in the lake, enriched from the catalogue; the bad ones dead-lettered', async () => {
    const { rowsOut } = await runExample('clean-events')
    const rows = await readTable(join(dir, 'lake', 'events-yaml'))
    assert.equal(rows.length, valid.length)
    assert.equal(rowsOut, valid.length)
    const withProduct = rows.filter((r) => r.product_id !== null)
    assert.ok(withProduct.length > 0)
    assert.ok(
      withProduct.every((r) => typeof r.product_category === 'string' && typeof r.product_name === 'string'),
    )
    assert.equal(await topicExists(`${ns}events.dlq`), true)
  })

  test('revenue-alerts: the alerts topic holds what the TypeScript revenueAlerts computes from the same events', async () => {
    const { rowsOut } = await runExample('revenue-alerts')
    // The TypeScript twin over the same topic, the same kind of run (availableNow over an unbounded source,
    // which keeps open windows for later: a bounded generator would end the input and close them), into memory.
    const ts = revenueAlerts(defaultOutputs(dir, { brokers: brokers() }))
    const sink = memory()
    const source = kafka({ brokers: brokers(), topics: `${ns}events`, groupId: uniqueGroup('alerts-ts') })
    const nodes = ts.plan.nodes.map((n) =>
      n.kind === 'source' ? { ...n, source } : n.kind === 'sink' ? { ...n, sink } : n,
    )
    await run(new Pipeline({ pipelineId: 'revenue-alerts-ts', nodes }), {
      checkpoint: join(dir, 'cp-revenue-alerts-ts'),
      trigger: { kind: 'availableNow' },
    })
    const expected = sink.rows as { category: string; window_start: string }[]
    assert.ok(expected.length > 0, 'the input makes at least one alert')
    assert.equal(rowsOut, expected.length)
    const published = await readTopic(`${ns}alerts`, expected.length)
    const order = (a: { category: string; window_start: string }) => `${a.window_start} ${a.category}`
    const sorted = <T extends { category: string; window_start: string }>(rows: T[]) =>
      [...rows].sort((a, b) => order(a).localeCompare(order(b)))
    assert.deepEqual(
      sorted(published.map((r) => r.value as { category: string; window_start: string })),
      sorted(expected),
    )
    assert.ok(published.every((r) => r.key === (r.value as { category: string }).category))
  })
})
