import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { loadPipelineFile, PipelineFileError, parsePipelineYaml } from '../../src/config/index.ts'

/** Every kind of bad pipeline file is refused with one `file:line:column: message` line per problem. */

async function problemsOf(text: string, env: Record<string, string> = {}): Promise<string[]> {
  try {
    await parsePipelineYaml(text, { file: 'p.yaml', env })
  } catch (error) {
    assert.ok(error instanceof PipelineFileError, `expected a PipelineFileError, got ${String(error)}`)
    assert.equal(error.exitCode, 2)
    assert.equal(error.file, 'p.yaml')
    return error.message.split('\n')
  }
  assert.fail('the file was accepted')
}

const head = 'pipeline: p\nsource: { generator: { count: 10 } }\n'

test('an unknown operator is named at its key, with the closest known one', async () => {
  assert.deepEqual(await problemsOf(`${head}steps:\n  - fliter: "true"\nsink: { console: }\n`), [
    'p.yaml:4:5: steps[0]: unknown step "fliter" (did you mean "filter"?); expected one of: filter, map, withField, select, flatMap, dedupe, join, keyBy, window, aggregate, process',
  ])
})

test('an unknown field, source, sink or aggregate function is named where it is', async () => {
  const lines = await problemsOf(
    [
      'pipeline: p',
      'source: { kafka: { topic: events } }',
      'steps:',
      '  - keyBy: event.x',
      '  - window: { tumbling: 1m }',
      '  - aggregate: { fields: { n: { median: event.y } } }',
      'sink: { kafak: { topic: out } }',
      '',
    ].join('\n'),
  )
  assert.deepEqual(lines, [
    'p.yaml:2:18: missing field "topics" in source.kafka',
    'p.yaml:2:20: source.kafka: unknown field of source.kafka "topic" (did you mean "topics"?); expected one of: topics, groupId, startingOffsets, endingOffsets, instanceId',
    'p.yaml:6:33: steps[2].aggregate.fields.n: unknown aggregate function "median"; expected one of: count, sum, avg, min, max, countDistinct, approxCountDistinct, first, last, collect',
    'p.yaml:7:9: sink: unknown sink "kafak" (did you mean "kafka"?); expected one of: kafka, postgres, mysql, duckdb, lake, redis, mongodb, console',
  ])
})

test('wrong types say what was expected and what was there', async () => {
  const lines = await problemsOf(
    `${head}steps:\n  - select: event_id\n  - dedupe: { key: event.id, within: 10 }\nsink: { kafka: { topic: 5, createPartitions: three } }\n`,
  )
  assert.deepEqual(lines, [
    'p.yaml:4:13: steps[0].select: expected a list of field names',
    'p.yaml:5:38: steps[1].dedupe.within: give dedupe window with a unit, e.g. "10s" or "10ms"',
    'p.yaml:6:25: sink.kafka.topic: expected string, got number 5',
    'p.yaml:6:46: sink.kafka.createPartitions: expected number, got the string "three"',
  ])
})

test('a missing field points at the mapping that lacks it', async () => {
  assert.deepEqual(await problemsOf('pipeline: p\nsource:\n  kafka: { startingOffsets: earliest }\n'), [
    'p.yaml:1:1: missing field "sink"',
    'p.yaml:3:10: missing field "topics" in source.kafka',
  ])
})

test('an expression that does not parse is reported at the character that is wrong', async () => {
  const lines = await problemsOf(
    [
      head.trimEnd(),
      'steps:',
      `  - filter: "event.event_type in ['page_view', 'click'"`,
      '  - withField:',
      '      name: doubled',
      '      expr: |',
      '        event.a +',
      '          * 2',
      "  - map: { a: 'event.b ==', b: row.x }",
      '  - filter: event.a + 1',
      'sink: { console: }',
      '',
    ].join('\n'),
  )
  assert.deepEqual(lines, [
    `p.yaml:4:55: Expected RBRACKET, got EOF in expression "event.event_type in ['page_view', 'click'"`,
    'p.yaml:9:11: Unexpected token: MULTIPLY in expression "event.a +\\n  * 2\\n"',
    'p.yaml:10:26: Unexpected token: EOF in expression "event.b =="',
    // `row` exists only inside a join's fields.
    'p.yaml:10:32: Unknown variable: row in expression "row.x"',
    'p.yaml:11:13: expected a bool expression, got one of type int: event.a + 1',
  ])
})

test('steps out of order: window and aggregate belong right after keyBy', async () => {
  const lines = await problemsOf(
    `${head}steps:\n  - window: { tumbling: 1m }\n  - keyBy: event.x\n  - filter: "true"\nsink: { console: }\n`,
  )
  assert.deepEqual(lines, [
    'p.yaml:4:13: window must come right after keyBy (keyBy, window, aggregate)',
    'p.yaml:5:12: keyBy must be followed by a window step (keyBy, window, aggregate) or by a process step',
  ])
})

test('process: fields missing or unknown, and process not right after keyBy', async () => {
  const lines = await problemsOf(
    [
      head.trimEnd(),
      'steps:',
      '  - process: { init: "0.0", next: "state + 1.0", emit: "[next]" }',
      '  - keyBy: event.user',
      '  - process:',
      '      init: "0.0"',
      '      emit: "[next]"',
      '      tll: 1h',
      'sink: { console: }',
      '',
    ].join('\n'),
  )
  assert.deepEqual(lines, [
    'p.yaml:7:7: missing field "next" in steps[2].process',
    'p.yaml:9:7: steps[2].process: unknown field of process "tll" (did you mean "ttl"?); expected one of: init, next, emit, ttl',
  ])
  // Once the document is valid, the compiler finds the step out of place.
  assert.deepEqual(
    await problemsOf(
      `${head}steps:\n  - process: { init: "0.0", next: "state + 1.0", emit: "[next]" }\nsink: { console: }\n`,
    ),
    ['p.yaml:4:14: process must come right after keyBy (keyBy, process)'],
  )
})

test('process: a ttl without unit, and init written as YAML null rather than a CEL string', async () => {
  const lines = await problemsOf(
    [
      head.trimEnd(),
      'steps:',
      '  - keyBy: event.user',
      '  - process: { init: "null", next: "event", emit: "[next]", ttl: 10 }',
      '  - keyBy: event.user',
      '  - process: { init: null, next: "[]", emit: "[]" }',
      'sink: { console: }',
      '',
    ].join('\n'),
  )
  assert.deepEqual(lines, [
    'p.yaml:5:66: steps[1].process.ttl: give process ttl with a unit, e.g. "10s" or "10ms"',
    'p.yaml:7:22: steps[3].process.init: expected the state of a new key as an expression in a string, e.g. init: "null" or init: "[]"',
  ])
})

test('process: bad expressions, variables out of scope, an emit that is not a list, an int state', async () => {
  const lines = await problemsOf(
    [
      head.trimEnd(),
      'steps:',
      '  - keyBy: event.user',
      '  - process:',
      '      init: event.n',
      '      next: "state +"',
      '      emit: "next"',
      '  - keyBy: event.user',
      '  - process:',
      '      init: "0"',
      '      next: state + 1',
      '      emit: "state.size()"',
      'sink: { console: }',
      '',
    ].join('\n'),
  )
  assert.deepEqual(lines, [
    // init sees only the key; next and emit see state, event and key, emit also next.
    'p.yaml:6:13: Unknown variable: event in expression "event.n"',
    'p.yaml:7:21: Unexpected token: EOF in expression "state +"',
    'p.yaml:11:13: init gives a value of type int, but the state is kept as JSON, whose numbers are doubles: write 1.0 rather than 1, double(size(x)) rather than size(x)',
    'p.yaml:12:13: next gives a value of type int, but the state is kept as JSON, whose numbers are doubles: write 1.0 rather than 1, double(size(x)) rather than size(x)',
    'p.yaml:13:13: expected a list expression, got one of type int: state.size()',
  ])
})

test('invalid YAML syntax is one line at the first error', async () => {
  assert.deepEqual(await problemsOf('pipeline: p\nsource: { kafka: { topics: [events }\nsink: x\n'), [
    'p.yaml:2:36: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
  ])
  assert.deepEqual(await problemsOf('pipeline: p\npipeline: q\n'), [
    'p.yaml:2:1: invalid YAML: Map keys must be unique',
  ])
})

// The strings below hold the file's ${VAR} syntax, not template placeholders.
/* biome-ignore-start lint/suspicious/noTemplateCurlyInString: YAML environment references */
test('an unset environment variable without a default is a problem at its place', async () => {
  assert.deepEqual(
    await problemsOf(`pipeline: p\nsource: { kafka: { topics: "\${NOPE}x" } }\nsink: { console: }\n`),
    ['p.yaml:2:29: environment variable NOPE is not set (write ${NOPE:-default} for a default)'],
  )
  const p = await parsePipelineYaml(
    'pipeline: ${NS:-}p\nsource: { kafka: { topics: "${NS:-}events$${x}" } }\nsink: { console: }\n',
    { file: 'p.yaml', env: { NS: 'test-' } },
  )
  assert.equal(p.plan.pipelineId, 'test-p')
  assert.deepEqual(p.plan.nodes[0]?.kind === 'source' && p.plan.nodes[0].source.options.topics, [
    'test-events${x}',
  ])
})
/* biome-ignore-end lint/suspicious/noTemplateCurlyInString: YAML environment references */

let dir: string
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-bad-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

test('a missing file, a missing JSON Schema and a broken one are named', async () => {
  await assert.rejects(loadPipelineFile(join(dir, 'nope.yaml')), (error: unknown) => {
    assert.ok(error instanceof PipelineFileError)
    assert.equal(error.message, `${join(dir, 'nope.yaml')}: no such file`)
    return true
  })
  const broken = join(dir, 'broken.json')
  await writeFile(broken, '{"type": "object", "properties": {"a": {"type": "strin"}}}')
  const lines = await problemsOf(
    `${head}schema: { jsonSchema: ${join(dir, 'missing.json')} }\nsink: { console: }\n`,
  )
  assert.equal(lines.length, 1)
  assert.match(lines[0]!, /^p\.yaml:3:23: JSON Schema file .*missing\.json not found$/)
  const bad = await problemsOf(`${head}schema: { jsonSchema: ${broken} }\nsink: { console: }\n`)
  assert.equal(bad.length, 1)
  assert.match(
    bad[0]!,
    /^p\.yaml:3:23: .*broken\.json: Invalid JSON Schema: schema is invalid: data\/properties\/a\/type/,
  )
})
