import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { cleanEvents, defaultOutputs, pageMetrics, sessions } from '../../src/app/demo-pipelines.ts'
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

const input = () =>
  generator({ seed: 11, users: 3000, count: 30_000, bad: 0.01, late: 0.01, dupes: 0.02 }) as SourceSpec

let dir: string
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-yaml-eq-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** The same pipeline reading `source` and writing into `sink` (plans are plain data). */
function rewire(p: Pipeline<unknown>, source: SourceSpec, sink: SinkSpec<unknown>): Pipeline<unknown> {
  const nodes = p.plan.nodes.map((n) =>
    n.kind === 'source' ? { ...n, source } : n.kind === 'sink' ? { ...n, sink } : n,
  )
  return new Pipeline({ pipelineId: p.plan.pipelineId, nodes })
}

async function outputOf(p: Pipeline<unknown>, name: string) {
  const sink = memory()
  const summary = await run(rewire(p, input(), sink), {
    checkpoint: join(dir, name),
    trigger: { kind: 'availableNow' },
  })
  return { rows: sink.rows, deadLetters: sink.deadLetters.map((d) => [d.partition, d.offset]), summary }
}

const outputs = defaultOutputs(join(tmpdir(), 'unused'), { brokers: '127.0.0.1:9' })

for (const [name, ts] of [
  ['page-metrics', pageMetrics(outputs)],
  ['sessions', sessions(outputs)],
  ['clean-events', cleanEvents(outputs)],
] as const) {
  test(`examples/${name}.yaml gives the rows and dead letters of the TypeScript ${name}`, async () => {
    const yaml = await loadPipelineFile(`examples/${name}.yaml`, { env: {} })
    const expected = await outputOf(ts as Pipeline<unknown>, `${name}-ts`)
    const actual = await outputOf(yaml, `${name}-yaml`)
    assert.ok(expected.rows.length > 1000, `${name}: enough rows to compare (${expected.rows.length})`)
    assert.ok(expected.deadLetters.length > 100, `${name}: bad records were dead-lettered`)
    assert.equal(actual.rows.length, expected.rows.length)
    assert.deepEqual(actual.rows, expected.rows)
    assert.deepEqual(actual.deadLetters, expected.deadLetters)
    assert.equal(actual.summary.inputRows, 30_000)
  })
}
