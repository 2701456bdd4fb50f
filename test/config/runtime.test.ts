import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { parsePipelineYaml } from '../../src/config/index.ts'
import { generator } from '../../src/connectors/testing/generator-source.ts'
import { memory } from '../../src/connectors/testing/memory.ts'
import { memorySource } from '../../src/connectors/testing/memory-source.ts'
import { run } from '../../src/runtime/run.ts'
import type { SourceSpec } from '../../src/runtime/source.ts'

/** Expressions at run time: what a record that makes one fail becomes (a dead letter with the reason). */

let dir: string
let n = 0
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-yaml-run-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function runYaml(steps: string, values: readonly unknown[], extra = '') {
  const sink = memory()
  // The file's source and sink are placeholders: the test's memory source and sink replace them.
  const text = `pipeline: p\nsource: { generator: { count: 1 } }\n${extra}steps:\n${steps}\nsink: { console: }\n`
  const p = await parsePipelineYaml(text, {
    file: 'p.yaml',
    overrides: {
      source: memorySource(
        'in',
        values.map((v) => JSON.stringify(v)),
      ) as SourceSpec,
      sink,
    },
  })
  await run(p, { checkpoint: join(dir, `cp-${n++}`), trigger: { kind: 'availableNow' } })
  return { rows: sink.rows, deadLetters: sink.deadLetters.map((d) => [d.offset, d.operator, d.reason]) }
}

test('a missing field or a wrong type in an expression dead-letters that record only', async () => {
  const out = await runYaml(
    [
      '  - filter: event.kind == "a"',
      '  - withField: { name: total, expr: "event.order.total * 2.0" }',
      '  - select: [id, total]',
    ].join('\n'),
    [
      { id: 1, kind: 'a', order: { total: 5 } },
      { id: 2, kind: 'a' },
      { id: 3, kind: 'b' },
      { id: 4, kind: 'a', order: { total: 'x' } },
      { id: 5, kind: 'a', order: { total: 1.5 } },
    ],
  )
  assert.deepEqual(out.rows, [
    { id: 1, total: 10 },
    { id: 5, total: 3 },
  ])
  assert.deepEqual(out.deadLetters, [
    [1, 'map', 'map threw: No such key: order in "event.order.total * 2.0"'],
    [3, 'map', 'map threw: no such overload: dyn<string> * double in "event.order.total * 2.0"'],
  ])
})

test('a filter that is not true or false, and a flatMap that is not a list, dead-letter the record', async () => {
  const out = await runYaml(['  - filter: event.keep', '  - flatMap: event.items'].join('\n'), [
    { keep: true, items: [1, 2] },
    { keep: 'yes', items: [3] },
    { keep: true, items: 'x' },
  ])
  assert.deepEqual(out.rows, [1, 2])
  assert.deepEqual(out.deadLetters, [
    [1, 'filter', 'filter threw: filter "event.keep" gave "yes", not true or false'],
    [2, 'flatMap', 'flatMap threw: flatMap "event.items" gave "x", not a list'],
  ])
})

test('an aggregate input of the wrong type, or a missing key, is a dead letter, not a stopped pipeline', async () => {
  const out = await runYaml(
    [
      '  - keyBy: event.page',
      '  - window: { tumbling: 1m }',
      '  - aggregate:',
      '      outputMode: update',
      '      fields:',
      '        n: count',
      '        total: { sum: event.amount }',
      '        first_user: { first: event.user }',
    ].join('\n'),
    [
      { t: '2026-01-01T00:00:01.000Z', page: '/', amount: 2, user: 'u1' },
      { t: '2026-01-01T00:00:02.000Z', page: '/', amount: 'lots', user: 'u2' },
      { t: '2026-01-01T00:00:03.000Z', amount: 1, user: 'u3' },
      { t: '2026-01-01T00:00:04.000Z', page: '/', amount: 3, user: 'u4' },
    ],
    'watermark: { field: t, delay: 0s }\n',
  )
  assert.deepEqual(out.rows, [
    {
      key: '/',
      window_start: '2026-01-01T00:00:00.000Z',
      window_end: '2026-01-01T00:01:00.000Z',
      n: 2,
      total: 5,
      first_user: 'u1',
    },
  ])
  assert.deepEqual(out.deadLetters, [
    [1, 'map', 'map threw: aggregate total (sum) needs a number, got "lots" from "event.amount"'],
    [2, 'map', 'map threw: No such key: page in "event.page"'],
  ])
})

test('a join adds the table row under a name, or fields computed from event and row', async () => {
  const table = join(dir, 'products.jsonl')
  await writeFile(table, '{"id":"p1","name":"Shoe","price":30}\n{"id":"p2","name":"Hat","price":10}\n')
  const values = [
    { product: 'p1', n: 2 },
    { product: 'p9', n: 1 },
    { product: 7, n: 1 },
  ]
  const nested = await runYaml(
    `  - join: { table: { jsonl: { path: ${table}, key: id } }, on: event.product, as: item, how: left }`,
    values,
  )
  assert.deepEqual(nested.rows, [
    { product: 'p1', n: 2, item: { id: 'p1', name: 'Shoe', price: 30 } },
    { product: 'p9', n: 1, item: null },
    { product: 7, n: 1, item: null },
  ])
  const computed = await runYaml(
    `  - join:\n      table: { jsonl: { path: ${table}, key: id } }\n      on: event.product\n      fields: { cost: "row.price * event.n" }`,
    values,
  )
  // Inner join: no match, no row. The cost is a double times a double (JSON numbers are CEL doubles).
  assert.deepEqual(computed.rows, [{ product: 'p1', n: 2, cost: 60 }])
})

test('schema: a JSON Schema file validates like the built-in Zod schema of the same events', async () => {
  const input = () => generator({ seed: 5, users: 500, count: 4000, bad: 0.05 }) as SourceSpec
  const count = async (schema: string) => {
    const sink = memory()
    const p = await parsePipelineYaml(
      `pipeline: p\nsource: { generator: { count: 1 } }\nschema: ${schema}\nsink: { console: }\n`,
      {
        file: 'p.yaml',
        overrides: { source: input(), sink },
      },
    )
    await run(p, { checkpoint: join(dir, `cp-${n++}`), trigger: { kind: 'availableNow' } })
    return { rows: sink.rows.length, deadLetters: sink.deadLetters.map((d) => d.offset + d.partition) }
  }
  const builtin = await count('clickstream-event')
  const jsonSchema = await count('{ jsonSchema: schemas/clickstream-event.schema.json }')
  assert.ok(builtin.deadLetters.length > 150, `bad records rejected (${builtin.deadLetters.length})`)
  assert.deepEqual(jsonSchema, builtin)
})
