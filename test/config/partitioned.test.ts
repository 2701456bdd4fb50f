import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PipelineFileError, parsePipelineYaml } from '../../src/config/index.ts'
import { scaleOutBlockers } from '../../src/runtime/scale-out.ts'

/** `partitioned: true` on keyBy and dedupe declares state that follows the input partitioning, so it scales out. */

const kafkaHead =
  'pipeline: p\nsource: { kafka: { topics: events } }\nwatermark: { field: event.t, delay: 5s }\n'
const sink = 'sink: { kafka: { topic: out } }\n'

async function blockersOf(steps: string): Promise<string[]> {
  const loaded = await parsePipelineYaml(`${kafkaHead}steps:\n${steps}${sink}`, { file: 'p.yaml', env: {} })
  return scaleOutBlockers(loaded.plan)
}

test('a keyBy and a dedupe declared partitioned scale out; undeclared they run as one instance', async () => {
  const declared = [
    '  - dedupe: { key: event.id, within: 10m }',
    '    partitioned: true',
    '  - keyBy: event.user',
    '    partitioned: true',
    '  - window: { tumbling: 1m }',
    '  - aggregate: { fields: { n: count } }',
    '',
  ].join('\n')
  assert.deepEqual(await blockersOf(declared), [])
  const undeclared = declared.replaceAll('    partitioned: true\n', '')
  const blockers = await blockersOf(undeclared)
  assert.equal(blockers.length, 2, blockers.join('\n'))
  assert.match(blockers[0]!, /dedupe.*not the input's partitioning/)
  assert.match(blockers[1]!, /window.*not the input's partitioning/)
})

test('partitioned on another step is an error at its place', async () => {
  await assert.rejects(
    parsePipelineYaml(`${kafkaHead}steps:\n  - filter: "true"\n    partitioned: true\n${sink}`, {
      file: 'p.yaml',
      env: {},
    }),
    (error) =>
      error instanceof PipelineFileError &&
      /p\.yaml:6:18: .*partitioned belongs to keyBy and dedupe/.test(error.message),
  )
})
