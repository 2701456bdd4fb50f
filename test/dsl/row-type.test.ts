import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { z } from 'zod'
import { aggregates, count, max, sum } from '../../src/aggregate/index.ts'
import { clickEventSchema } from '../../src/clickstream/zod-schema.ts'
import { memory } from '../../src/connectors/testing/memory.ts'
import { memorySource } from '../../src/connectors/testing/memory-source.ts'
import { fromJsonSchema } from '../../src/dsl/parse.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import {
  outputRowType,
  type RowType,
  rowTypeFromJsonSchema,
  rowTypeFromZod,
} from '../../src/plan/row-type.ts'
import { tumbling } from '../../src/window/index.ts'

const fields = (type: RowType | undefined) => (type ? Object.fromEntries(type.fields) : undefined)

describe('the row type a plan declares for its sink', () => {
  test('from JSON Schema: integer only where it says integer, date-time strings, unions, refs, allOf', () => {
    const schema = {
      $defs: { money: { type: 'number', minimum: 0 } },
      type: 'object',
      properties: {
        id: { type: 'integer' },
        total: { $ref: '#/$defs/money' },
        maybe: { type: ['integer', 'null'] },
        either: { type: ['integer', 'number'] },
        mixed: { type: ['string', 'number'] },
        at: { type: 'string', format: 'date-time' },
        day: { type: 'string', format: 'date' },
        kind: { enum: ['a', 'b'] },
        version: { const: 1 },
        flag: { type: 'boolean' },
        tags: { type: 'array', items: { type: 'string' } },
        anything: {},
        nullable: { anyOf: [{ type: 'string' }, { type: 'null' }] },
        both: { allOf: [{ type: 'number' }, { type: 'integer' }] },
      },
    }
    assert.deepEqual(fields(rowTypeFromJsonSchema(schema, 's')), {
      id: 'integer',
      total: 'number',
      maybe: 'integer',
      either: 'number',
      mixed: 'json',
      at: 'timestamp',
      day: 'string',
      kind: 'string',
      version: 'integer',
      flag: 'boolean',
      tags: 'json',
      nullable: 'string',
      both: 'integer',
    })
    assert.equal(rowTypeFromJsonSchema({ type: 'string' }, 's'), undefined, 'not rows of fields')
    assert.equal(rowTypeFromJsonSchema(true, 's'), undefined)
    // A union of object schemas (one per event type): a field's type is what all its branches allow.
    assert.deepEqual(
      fields(
        rowTypeFromJsonSchema(
          {
            oneOf: [
              { type: 'object', properties: { kind: { const: 'a' }, n: { type: 'integer' } } },
              {
                type: 'object',
                properties: { kind: { const: 'b' }, n: { type: 'number' }, x: { type: 'string' } },
              },
            ],
          },
          's',
        ),
      ),
      { kind: 'string', n: 'number', x: 'string' },
    )
    // A recursive schema does not recurse forever.
    assert.deepEqual(
      fields(
        rowTypeFromJsonSchema(
          {
            $ref: '#/$defs/node',
            $defs: { node: { type: 'object', properties: { next: { $ref: '#/$defs/node' } } } },
          },
          's',
        ),
      ),
      { next: 'json' },
    )
  })

  test('from Zod (its own JSON Schema of the output): z.int() is integer, z.number() a number, transforms unknown', () => {
    const schema = z.object({
      id: z.int(),
      amount: z.number(),
      at: z.iso.datetime(),
      created: z.date(),
      parsed: z.string().transform(Number),
      big: z.bigint(),
      note: z.string().nullable().optional(),
    })
    assert.deepEqual(fields(rowTypeFromZod(schema, 'z')), {
      id: 'integer',
      amount: 'number',
      at: 'timestamp',
      note: 'string',
    })
    assert.equal(rowTypeFromZod(z.unknown(), 'z'), undefined)
  })

  test('the clickstream schema, as Zod and as JSON Schema, declares the same field types', () => {
    const json = JSON.parse(readFileSync('schemas/clickstream-event.schema.json', 'utf8')) as Record<
      string,
      unknown
    >
    const fromJson = fields(rowTypeFromJsonSchema(json, 'json'))
    const fromZod = fields(rowTypeFromZod(clickEventSchema, 'zod'))
    // The JSON Schema says `"format": "date-time"`; the Zod schema checks the same text with a pattern only,
    // and `const: 1` is typed number by Zod's export, an integer by its value in the JSON Schema.
    assert.deepEqual({ ...fromJson, event_time: 'string', schema_version: 'number' }, { ...fromZod })
    assert.deepEqual([fromJson?.event_time, fromJson?.schema_version], ['timestamp', 'integer'])
    assert.equal(fromZod?.order, 'json')
  })

  test('through the plan: kept by filter and select, lost by map, declared again by a window aggregate', () => {
    const Row = z.object({ user: z.string(), n: z.int(), price: z.number(), at: z.iso.datetime() })
    const start = pipeline('p').from(memorySource('m', [])).parse(Row)
    const of = (p: { plan: Parameters<typeof outputRowType>[0] }) => fields(outputRowType(p.plan))
    const all = { user: 'string', n: 'integer', price: 'number', at: 'timestamp' }
    assert.deepEqual(of(start.to(memory())), all)
    assert.deepEqual(of(start.filter((r) => r.n > 0).to(memory())), all)
    assert.deepEqual(of(start.select('user', 'price').to(memory())), { user: 'string', price: 'number' })
    assert.deepEqual(of(start.withField('n', () => 'x').to(memory())), {
      user: 'string',
      price: 'number',
      at: 'timestamp',
    })
    assert.equal(of(start.map((r) => ({ ...r })).to(memory())), undefined)
    assert.equal(of(pipeline('raw').from(memorySource('m', [])).to(memory())), undefined)
    const windowed = start
      .withWatermark('at', '1s')
      .keyBy((r) => r.user)
      .window(tumbling('1m'))
      .aggregate(
        aggregates({
          events: count(),
          revenue: sum((r: z.infer<typeof Row>) => r.price),
          last: max((r: z.infer<typeof Row>) => r.at),
        }),
      )
    assert.deepEqual(of(windowed.to(memory())), {
      window_start: 'timestamp',
      window_end: 'timestamp',
      events: 'integer',
      revenue: 'number',
    })
    assert.deepEqual(
      of(
        start
          .keyBy((r) => r.user)
          .window(tumbling('1m'))
          .aggregate(count())
          .to(memory()),
      ),
      {
        window_start: 'timestamp',
        window_end: 'timestamp',
        value: 'integer',
      },
    )
    assert.equal(of(windowed.map((r) => ({ page: r.key, views: r.events })).to(memory())), undefined)
    assert.deepEqual(
      of(
        windowed
          .map((r) => ({ page: r.key, views: r.events }))
          .parse(
            fromJsonSchema({
              type: 'object',
              properties: { page: { type: 'string' }, views: { type: 'integer' } },
            }),
          )
          .to(memory()),
      ),
      { page: 'string', views: 'integer' },
    )
  })
})
