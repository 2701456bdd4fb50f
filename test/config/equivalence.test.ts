import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import {
  cleanEvents,
  defaultOutputs,
  pageMetrics,
  revenueAlerts,
  sessions,
} from '../../src/app/demo-pipelines.ts'
import { loadPipelineFile } from '../../src/config/index.ts'
import { generator } from '../../src/connectors/testing/generator-source.ts'
import { memory } from '../../src/connectors/testing/memory.ts'
import { Pipeline } from '../../src/dsl/stream.ts'
import { run } from '../../src/runtime/run.ts'
import type { SinkSpec } from '../../src/runtime/sink.ts'
import type { SourceSpec } from '../../src/runtime/source.ts'

/**
 * The YAML examples compute what the TypeScript demo pipelines compute: both run over the same generated
 * clickstream (with malformed, late and duplicate records) into memory sinks, and their rows and dead
 * letters are compared one for one.
 */

const COUNT = 30_000
const input = (users: number) =>
  generator({ seed: 11, users, count: COUNT, bad: 0.01, late: 0.01, dupes: 0.02 }) as SourceSpec

let dir: string
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-yaml-eq-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

/**
 * The same pipeline reading `source` and writing into `sink` (plans are plain data); with `upTo`, only the
 * steps up to the one of that id, for comparing what a middle step gives.
 */
function rewire(
  p: Pipeline<unknown>,
  source: SourceSpec,
  sink: SinkSpec<unknown>,
  upTo?: string,
): Pipeline<unknown> {
  let nodes = p.plan.nodes
  if (upTo !== undefined) {
    const last = nodes.findIndex((n) => n.id === upTo)
    assert.ok(last > 0, `a step ${upTo} in ${p.plan.pipelineId}`)
    nodes = [...nodes.slice(0, last + 1), nodes.at(-1)!]
  }
  nodes = nodes.map((n) => (n.kind === 'source' ? { ...n, source } : n.kind === 'sink' ? { ...n, sink } : n))
  return new Pipeline({ pipelineId: p.plan.pipelineId, nodes })
}

async function outputOf(p: Pipeline<unknown>, name: string, users: number, upTo?: string) {
  const sink = memory()
  const summary = await run(rewire(p, input(users), sink, upTo), {
    checkpoint: join(dir, name),
    trigger: { kind: 'availableNow' },
  })
  return { rows: sink.rows, deadLetters: sink.deadLetters.map((d) => [d.partition, d.offset]), summary }
}

const outputs = defaultOutputs(join(tmpdir(), 'unused'), { brokers: '127.0.0.1:9' })

/**
 * Per pipeline: the generator's users, and how many rows make a comparison worth its name. revenue-alerts
 * reads the same number of events from fewer users: a longer stretch of event time, so more windows close
 * and compare (at 3000 users, six alerts; at 500, thirty).
 */
for (const [name, ts, users, minRows] of [
  ['page-metrics', pageMetrics(outputs), 3000, 1000],
  ['sessions', sessions(outputs), 3000, 1000],
  ['clean-events', cleanEvents(outputs), 3000, 1000],
  ['revenue-alerts', revenueAlerts(outputs), 500, 20],
] as const) {
  test(`examples/${name}.yaml gives the rows and dead letters of the TypeScript ${name}`, async () => {
    const yaml = await loadPipelineFile(`examples/${name}.yaml`, { env: {} })
    const expected = await outputOf(ts as Pipeline<unknown>, `${name}-ts`, users)
    const actual = await outputOf(yaml, `${name}-yaml`, users)
    assert.ok(expected.rows.length > minRows, `${name}: enough rows to compare (${expected.rows.length})`)
    assert.ok(expected.deadLetters.length > 100, `${name}: bad records were dead-lettered`)
    assert.equal(actual.rows.length, expected.rows.length)
    assert.deepEqual(actual.rows, expected.rows)
    assert.deepEqual(actual.deadLetters, expected.deadLetters)
    assert.equal(actual.summary.inputRows, COUNT)
  })
}

test('revenue-alerts: spikes and drops, and the revenue attributed to categories matches row for row', async () => {
  const yaml = await loadPipelineFile('examples/revenue-alerts.yaml', { env: {} })
  const ts = revenueAlerts(outputs) as Pipeline<unknown>
  const alerts = (await outputOf(yaml, 'alerts-yaml', 500)).rows as { kind: string }[]
  assert.ok(alerts.some((a) => a.kind === 'spike'))
  assert.ok(alerts.some((a) => a.kind === 'drop'))
  // The step before the windows: one { category, revenue } per category of each purchased cart.
  const expected = await outputOf(ts, 'attribute-ts', 500, 'attribute-orders')
  const actual = await outputOf(yaml, 'attribute-yaml', 500, 'attribute-orders')
  const purchases = (expected.rows as { revenue: number }[]).length
  assert.ok(purchases > 100, `enough attributed revenue rows (${purchases})`)
  assert.deepEqual(actual.rows, expected.rows)
  assert.deepEqual(actual.deadLetters, expected.deadLetters)
})
