import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parsePipelineYaml } from '../../src/config/index.ts'
import { scaleOutBlockers } from '../../src/runtime/scale-out.ts'

/** `scaleOut` on a YAML sink says what the same option of the library's sink says. */

async function blockersInto(sink: string): Promise<string[]> {
  const loaded = await parsePipelineYaml(
    `pipeline: p\nsource: { kafka: { topics: events } }\nsteps:\n  - filter: "true"\nsink: ${sink}\n`,
    { file: 'p.yaml', env: { DATABASE_URL: 'postgres://127.0.0.1/x' } },
  )
  return scaleOutBlockers(loaded.plan)
}

test('sink.lake scaleOut: false keeps one writer for the pipeline; true lets instances share the input', async () => {
  assert.deepEqual(await blockersInto('{ lake: { path: data/lake/t, scaleOut: true } }'), [])
  const [single] = await blockersInto('{ lake: { path: data/lake/t, scaleOut: false } }')
  assert.match(single ?? '', /^its sink \(lake\): lake\(\{ scaleOut: false \}\) keeps one writer/)
})

test('sink.postgres scaleOut: false opts out of sharing the input', async () => {
  assert.deepEqual(await blockersInto('{ postgres: { table: t } }'), [])
  const [single] = await blockersInto('{ postgres: { table: t, scaleOut: false } }')
  assert.match(single ?? '', /^its sink \(postgres\) keeps one position for the whole pipeline/)
})
