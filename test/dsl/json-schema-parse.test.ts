import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { ClickstreamGenerator } from '../../src/clickstream/generator.ts'
import type { ClickEvent } from '../../src/clickstream/index.ts'
import { clickEventSchema } from '../../src/clickstream/zod-schema.ts'
import { memory } from '../../src/connectors/testing/memory.ts'
import { memorySource } from '../../src/connectors/testing/memory-source.ts'
import { fromJsonSchema, zodValidator } from '../../src/dsl/parse.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { UsageError } from '../../src/errors.ts'
import { TestDriver } from '../../src/testing/test-driver.ts'

const T0 = Date.parse('2026-11-25T10:00:00Z')

interface Click {
  readonly user: string
  readonly page: string
  readonly at: string
  readonly tags?: readonly string[]
}

const clickSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  title: 'Click',
  type: 'object',
  required: ['user', 'page', 'at'],
  additionalProperties: false,
  properties: {
    user: { type: 'string', minLength: 1 },
    page: { type: 'string', pattern: '^/' },
    at: { type: 'string', format: 'date-time' },
    kind: { enum: ['view', 'click'] },
    tags: { type: 'array', items: { type: 'string' } },
  },
} as const

describe('parse(fromJsonSchema<T>(schema))', () => {
  test('valid values continue typed and unchanged; each bad one is dead-lettered with a precise reason', async () => {
    const p = pipeline('json-clicks')
      .from(memorySource('clicks'))
      .parse(fromJsonSchema<Click>(clickSchema))
      // Compile-time check that the stream is typed Click: `page` is a string here.
      .map((c) => ({ user: c.user, page: c.page.toUpperCase(), tags: c.tags?.length ?? 0 }))
      .to(memory())
    const driver = await TestDriver.create(p, { startTime: T0 })
    driver.send([
      '{"user":"a","page":"/home","at":"2026-11-25T10:00:01Z","tags":["x"]}',
      '{"user":"a","page":"/",',
      Buffer.from([0x7b, 0xff, 0xfe, 0x7d]),
      null,
      '{"user":"a","page":"home","at":"2026-11-25T10:00:01Z"}',
      '{"user":"a","page":"/","at":"2026-02-30T10:00:01Z"}',
      '{"user":"a","page":"/","at":"2026-11-25T10:00:01Z","extra":1}',
      '{"user":"a","page":"/","at":"2026-11-25T10:00:01Z","kind":"buy"}',
      '{"page":7}',
      '{"user":"b","page":"/b","at":"2026-11-25T10:00:02Z"}',
    ])
    driver.runBatch()
    assert.deepEqual(driver.output, [
      { user: 'a', page: '/HOME', tags: 1 },
      { user: 'b', page: '/B', tags: 0 },
    ])
    const reasons = driver.deadLetters.map((d) => d.reason)
    const expected = [
      /^malformed JSON/,
      /^invalid UTF-8$/,
      /^empty value/,
      /^schema violation: page: must match pattern "\^\/"$/,
      /^schema violation: at: must match format "date-time"$/,
      /^schema violation: \(root\): must NOT have additional properties "extra"$/,
      /^schema violation: kind: must be equal to one of the allowed values: \["view","click"\]$/,
      // Every problem of the value, not only the first the fast check stopped at.
      /^schema violation: \(root\): must have required property 'user'; \(root\): must have required property 'at'; page: must be string$/,
    ]
    assert.equal(reasons.length, expected.length, JSON.stringify(reasons))
    for (const [i, pattern] of expected.entries()) assert.match(reasons[i]!, pattern)
    assert.ok(driver.deadLetters.every((d) => d.operator === 'parse'))
  })

  test('the step is named after the schema title for describe() and fingerprints', () => {
    const plan = pipeline('x')
      .from(memorySource('s'))
      .parse(fromJsonSchema<Click>(clickSchema))
      .to(memory()).plan
    const node = plan.nodes.find((n) => n.kind === 'parse')
    assert.equal(node?.kind === 'parse' ? node.schemaName : undefined, 'Click')
  })

  test('an invalid schema fails when the pipeline is defined, as a usage error', () => {
    assert.throws(
      () => fromJsonSchema({ type: 'object', properties: { a: { type: 'no-such-type' } } }),
      (error: unknown) => error instanceof UsageError && /Invalid JSON Schema/.test(error.message),
    )
  })

  test('draft-07 schemas compile too', () => {
    const v = fromJsonSchema<{ n: number }>({
      $schema: 'http://json-schema.org/draft-07/schema#',
      type: 'object',
      properties: { n: { type: 'integer' } },
      required: ['n'],
    })
    assert.deepEqual(v.validate('{"n":3}'), { ok: true, value: { n: 3 } })
    assert.equal(v.validate('{"n":3.5}').ok, false)
  })

  test('the repository clickstream schema agrees with the Zod schema on generated good and bad events', () => {
    const schema = JSON.parse(readFileSync('schemas/clickstream-event.schema.json', 'utf8')) as object
    const json = fromJsonSchema<ClickEvent>(schema as Record<string, unknown>)
    const generator = new ClickstreamGenerator({
      seed: 3,
      users: 500,
      startTime: T0,
      bad: 0.05,
    } as ConstructorParameters<typeof ClickstreamGenerator>[0])
    const zod = zodValidator(clickEventSchema)
    let bad = 0
    for (let i = 0; i < 3000; i++) {
      const raw = Buffer.from(generator.next().value)
      const a = json.validate(raw)
      const z = zod(raw)
      assert.equal(
        a.ok,
        z.ok,
        `event ${i}: ${a.ok ? 'accepted' : a.reason} / ${z.ok ? 'accepted' : z.reason}`,
      )
      if (!a.ok) bad++
    }
    assert.ok(bad > 50, `only ${bad} bad events generated`)
  })
})
