import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { PipelineFileError, parsePipelineYaml } from '../../src/config/index.ts'
import { runCli } from '../helpers/cli.ts'

/**
 * Issue 15, item 4: when a pipeline file declares its schema, a field an expression reads that no record can
 * have is an error at its place when the file loads (not a dead letter for every record); where the shape of
 * the records is not known, nothing is guessed.
 */

let dir: string
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-fields-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function problemsOf(text: string): Promise<string[]> {
  try {
    await parsePipelineYaml(text, { file: 'p.yaml', env: {} })
  } catch (error) {
    assert.ok(error instanceof PipelineFileError, `expected a PipelineFileError, got ${String(error)}`)
    return error.message.split('\n')
  }
  assert.fail('the file was accepted')
}

async function accepted(text: string): Promise<void> {
  await parsePipelineYaml(text, { file: 'p.yaml', env: {} })
}

const clickstream = 'pipeline: p\nsource: { generator: { count: 10 } }\nschema: clickstream-event\n'
const FIELDS =
  'fields in schema clickstream-event: schema_version, event_id, event_type, event_time, user_id, anonymous_id, session_id, platform, device, country, page, utm, product, search_query, cart, order, error'

test("the issue's case: event.event_typo in a filter is refused at its place, with the closest field", async () => {
  assert.deepEqual(
    await problemsOf(`${clickstream}steps:\n  - filter: "event.event_typo == 'click'"\nsink: { console: }\n`),
    [`p.yaml:5:20: event has no field "event_typo" (did you mean "event_type"?): ${FIELDS}`],
  )
})

test('sluice run --dry-run refuses it with exit 2 and file:line:col', async () => {
  const file = join(dir, 'typo.yaml')
  await writeFile(
    file,
    `${clickstream}steps:\n  - filter: "event.event_typo == 'click'"\nsink: { console: }\n`,
  )
  const result = await runCli(['run', file, '--dry-run'])
  assert.equal(result.code, 2, result.stderr)
  assert.match(
    result.stderr,
    /typo\.yaml:5:20: event has no field "event_typo" \(did you mean "event_type"\?\)/,
  )
  assert.equal(result.stdout, '')
})

test('nested fields, has(), optional reads, literal indexes and fields of a string are checked', async () => {
  const lines = await problemsOf(
    [
      clickstream,
      'steps:',
      '  - filter: "event.page.pth.startsWith(\'/\')"',
      '  - filter: has(event.prodcut)',
      '  - filter: "event.?ordr.?total.orValue(0.0) > 1.0"',
      "  - filter: \"event['event_tpye'] == 'click'\"",
      '  - filter: "event.user_id.name == \'x\'"',
      "  - filter: \"event.device.browser == 'x' && event.device.app_version == '1' && event.utm.source == 'x'\"",
      'sink: { console: }',
      '',
    ].join('\n'),
  )
  assert.deepEqual(lines, [
    'p.yaml:6:25: event.page has no field "pth" (did you mean "path"?): fields in schema clickstream-event: url, path, referrer, title',
    `p.yaml:7:23: event has no field "prodcut" (did you mean "product"?): ${FIELDS}`,
    `p.yaml:8:21: event has no field "ordr" (did you mean "order"?): ${FIELDS}`,
    `p.yaml:9:20: event has no field "event_tpye" (did you mean "event_type"?): ${FIELDS}`,
    'p.yaml:10:28: event.user_id is a string in schema clickstream-event, which has no field "name"',
  ])
})

test('fields after steps whose output is known: select, a map of fields, a window aggregate', async () => {
  const lines = await problemsOf(
    [
      clickstream,
      'steps:',
      '  - select: [user_id, page, evnt_time]',
      "  - filter: \"event.page.path == '/' && event.event_type == 'click'\"",
      '  - map: { user: event.user_id, path: event.page.path }',
      '  - keyBy: event.usr',
      '  - window: { tumbling: 1m }',
      '  - aggregate: { fields: { n: count, paths: { collect: event.path } } }',
      '  - filter: event.n > 1.0 && event.kye != ""',
      'sink: { console: }',
      '',
    ].join('\n'),
  )
  assert.deepEqual(lines, [
    'p.yaml:6:29: the record has no field "evnt_time" (did you mean "event_time"?): ' + FIELDS,
    'p.yaml:7:46: event has no field "event_type" (did you mean "evnt_time"?): fields made by step 1 (select): user_id, page, evnt_time',
    'p.yaml:9:18: event has no field "usr" (did you mean "user"?): fields made by step 3 (map): user, path',
    'p.yaml:12:36: event has no field "kye" (did you mean "key"?): fields of the rows of step 6 (aggregate): key, window_start, window_end, n, paths',
  ])
})

test('a watermark field the records cannot have is refused', async () => {
  assert.deepEqual(
    await problemsOf(`${clickstream}watermark: { field: event_tme, delay: 5s }\nsink: { console: }\n`),
    [`p.yaml:4:21: the record has no field "event_tme" (did you mean "event_time"?): ${FIELDS}`],
  )
})

test('nothing is guessed where the shape is not known', async () => {
  // No schema: any field may be there.
  await accepted(
    'pipeline: p\nsource: { generator: { count: 1 } }\nsteps:\n  - filter: event.anything == 1\nsink: { console: }\n',
  )
  // After a map of one expression, a flatMap or a process step, the records' fields are not spelt out.
  await accepted(
    `${clickstream}steps:\n  - map: event.page\n  - filter: "event.whatever == 'x'"\nsink: { console: }\n`,
  )
  await accepted(
    `${clickstream}steps:\n  - flatMap: "[event]"\n  - filter: "event.x == 1"\nsink: { console: }\n`,
  )
  // A variable a macro binds shadows `event`, and a list's elements without a schema are not checked.
  await accepted(
    `${clickstream}steps:\n  - filter: "[{'a': 1}].exists(event, event.a == 1) && cel.bind(event, {'b': 2}, event.b == 2)"\nsink: { console: }\n`,
  )
  // withField and a join add fields to what the schema says.
  await accepted(
    `${clickstream}steps:\n  - withField: { name: day, expr: "event.event_time.substring(0, 10)" }\n  - join: { table: { builtin: products }, on: event.?product.?id.orValue(''), as: p, how: left }\n  - filter: "event.day != '' && event.p != null"\nsink: { console: }\n`,
  )
})

test('a JSON Schema: closed objects are checked, open ones (additionalProperties not false) are not', async () => {
  const schema = join(dir, 'order.schema.json')
  await writeFile(
    schema,
    JSON.stringify({
      type: 'object',
      additionalProperties: false,
      properties: {
        id: { type: 'string' },
        lines: {
          type: 'array',
          items: { type: 'object', additionalProperties: false, properties: { sku: { type: 'string' } } },
        },
        extra: { type: 'object', properties: { a: { type: 'number' } } },
      },
    }),
  )
  const head = `pipeline: p\nsource: { generator: { count: 1 } }\nschema: { jsonSchema: ${schema} }\n`
  assert.deepEqual(
    await problemsOf(
      `${head}steps:\n  - filter: "event.lines.exists(l, l.skus == 'x') && event.extra.anything == 1.0 && event.ids != ''"\nsink: { console: }\n`,
    ),
    [
      'p.yaml:5:38: l has no field "skus" (did you mean "sku"?): fields in schema json-schema: sku',
      'p.yaml:5:91: event has no field "ids" (did you mean "id"?): fields in schema json-schema: id, lines, extra',
    ],
  )
})
