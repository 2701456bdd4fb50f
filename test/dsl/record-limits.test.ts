import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { z } from 'zod'
import { parsePipelineYaml } from '../../src/config/index.ts'
import { memory } from '../../src/connectors/testing/memory.ts'
import { memorySource } from '../../src/connectors/testing/memory-source.ts'
import { fromJsonSchema } from '../../src/dsl/parse.ts'
import type { Pipeline } from '../../src/dsl/stream.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { UsageError } from '../../src/errors.ts'
import { describePlan } from '../../src/plan/describe.ts'
import { TestDriver } from '../../src/testing/test-driver.ts'

const T0 = Date.parse('2026-11-25T10:00:00Z')

/** The hostile records of issue 12 item 5, each followed by a good one that must still get through. */
const deep = `{"id":1,"deep":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}`
const wide = `{${Array.from({ length: 100_000 }, (_, i) => `"${i.toString(36)}":0`).join(',')}}`
const deepArray = `${'['.repeat(100_000)}${']'.repeat(100_000)}`

async function through(p: Pipeline<unknown>, values: readonly unknown[]) {
  const driver = await TestDriver.create(p, { startTime: T0 })
  driver.send(values)
  driver.runBatch()
  return {
    output: driver.output,
    reasons: driver.deadLetters.map((d) => `${d.operator}: ${d.reason}`),
  }
}

function schemaless(options: Parameters<typeof pipeline>[1] = {}): Pipeline<unknown> {
  return pipeline('limits', options).from(memorySource('in')).parse(z.unknown()).to(memory())
}

describe('record limits', () => {
  test('without a schema, each hostile record is a dead letter with its reason and the good ones go on', async () => {
    const { output, reasons } = await through(schemaless(), [
      deep,
      '{"id":2}',
      wide,
      deepArray,
      '{"id":3,"x":1e400}',
      '{"id":4,"x":-1e999}',
      '{"id":5,"n":12345678901234567890}',
      // Exact doubles beyond 2^53 written as such are fine, and so are decimals.
      '{"id":6,"a":1e20,"b":9007199254740992,"c":0.1,"d":-9007199254740991}',
      '{"id":7}',
    ])
    // Reasons first: on failure, a diff of the 100,000-field value takes minutes.
    assert.deepEqual(reasons, [
      'parse: nested more than 128 levels deep at deep.a.a.a.….a.a.a (recordLimits.maxDepth)',
      'parse: more than 1000 fields in the object at (root) (recordLimits.maxFields)',
      'parse: nested more than 128 levels deep at 0.0.0.0.….0.0.0 (recordLimits.maxDepth)',
      'parse: number out of range at x: it parses to Infinity, which JSON cannot carry (a double holds at most ±1.8e308)',
      'parse: number out of range at x: it parses to -Infinity, which JSON cannot carry (a double holds at most ±1.8e308)',
      'parse: integer 12345678901234567890 is beyond ±2^53 and would be stored as 12345678901234567000: JSON numbers are doubles here; send it as a string',
    ])
    assert.deepEqual(output, [
      { id: 2 },
      { id: 6, a: 1e20, b: 9007199254740992, c: 0.1, d: -9007199254740991 },
      { id: 7 },
    ])
  })

  test('a record over maxBytes is refused before any step, with or without a parse step', async () => {
    const big = `{"s":"${'é'.repeat(600)}"}` // 1,208 bytes in 608 characters
    const noParse = pipeline('raw', { recordLimits: { maxBytes: 1000 } })
      .from(memorySource('in'))
      .map((v) => String(v).length)
      .to(memory())
    const raw = await through(noParse as Pipeline<unknown>, [big, Buffer.alloc(1001), 'x'.repeat(1000)])
    assert.deepEqual(raw.output, [1000])
    assert.deepEqual(raw.reasons, [
      'source: record of 1208 bytes is larger than 1000 (recordLimits.maxBytes)',
      'source: record of 1001 bytes is larger than 1000 (recordLimits.maxBytes)',
    ])
    const parsed = await through(schemaless({ recordLimits: { maxBytes: 1000 } }), [big, '{"ok":true}'])
    assert.deepEqual(parsed.output, [{ ok: true }])
    assert.deepEqual(parsed.reasons, [
      'source: record of 1208 bytes is larger than 1000 (recordLimits.maxBytes)',
    ])
  })

  test('limits are the users to change, in the API and in YAML, and apply to Zod, JSON Schema and objects', async () => {
    const nested = '{"a":{"b":{"c":1}},"f1":1,"f2":2}'
    const limits = { recordLimits: { maxDepth: 2, maxFields: 3 } }
    const zod = pipeline('zod', limits)
      .from(memorySource('in'))
      .parse(z.object({ a: z.unknown() }))
      .to(memory())
    const json = pipeline('json', limits)
      .from(memorySource('in'))
      .parse(fromJsonSchema<unknown>({ type: 'object' }))
      .to(memory())
    for (const p of [zod, json, schemaless(limits)] as Pipeline<unknown>[]) {
      const { output, reasons } = await through(p, [
        nested,
        '{"a":{"b":1},"f1":1,"f2":2}',
        '{"a":1,"f1":1,"f2":2,"f3":3}',
        { a: { b: [1] } }, // an in-process object: the same limits
        { a: Buffer.alloc(10) }, // whose bytes are one value, not ten fields
      ])
      assert.equal(output.length, 2, p.plan.pipelineId)
      assert.deepEqual(
        reasons.map((r) => r.replace(/^parse: /, '')),
        [
          'nested more than 2 levels deep at a.b (recordLimits.maxDepth)',
          'more than 3 fields in the object at (root) (recordLimits.maxFields)',
          'nested more than 2 levels deep at a.b (recordLimits.maxDepth)',
        ],
        p.plan.pipelineId,
      )
    }
    const yaml = await parsePipelineYaml(
      [
        'pipeline: yaml-limits',
        'source: { files: { path: in.jsonl, format: jsonl } }',
        'recordLimits: { maxBytes: 4096, maxDepth: 2, maxFields: 3 }',
        'sink: { console: {} }',
      ].join('\n'),
      { file: 'limits.yaml', overrides: { source: memorySource('in'), sink: memory() } },
    )
    assert.deepEqual(yaml.plan.recordLimits, { maxBytes: 4096, maxDepth: 2, maxFields: 3 })
    assert.match(describePlan(yaml.plan), /limits {4}maxBytes=4096 maxDepth=2 maxFields=3/)
    const fromYaml = await through(yaml, [nested, '{"a":{"b":1}}'])
    assert.deepEqual(fromYaml.output, [{ a: { b: 1 } }])
    assert.equal(fromYaml.reasons.length, 1)
  })

  test('limits that cannot work are refused where they are given', async () => {
    assert.throws(() => pipeline('x', { recordLimits: { maxDepth: 5000 } }), UsageError)
    assert.throws(() => pipeline('x', { recordLimits: { maxBytes: 0 } }), /maxBytes must be a positive/)
    assert.throws(() => pipeline('x', { recordLimits: { maxFields: 1.5 } }), /maxFields must be a positive/)
    await assert.rejects(
      parsePipelineYaml(
        'pipeline: y\nsource: { files: { path: in.jsonl } }\nrecordLimits: { maxDepth: 5000 }\nsink: { console: {} }',
        { file: 'y.yaml' },
      ),
      /maxDepth/,
    )
  })
})
