import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { count } from '../../src/aggregate/index.ts'
import { PipelineFileError, parsePipelineYaml } from '../../src/config/index.ts'
import { memory } from '../../src/connectors/testing/memory.ts'
import { memorySource } from '../../src/connectors/testing/memory-source.ts'
import { type Pipeline, pipeline } from '../../src/dsl/stream.ts'
import { UsageError } from '../../src/errors.ts'
import { describePlan } from '../../src/plan/describe.ts'
import { tumbling } from '../../src/window/index.ts'

type Event = { k: string; t: number }
const start = () => pipeline('ids').from(memorySource<Event>('events', []))

function ids(p: Pipeline<unknown>): string[] {
  return p.plan.nodes.map((n) => n.id)
}

describe('derived step ids', () => {
  test('are the kind, then the kind and its ordinal among steps of that kind', () => {
    const p = start()
      .map((e) => e)
      .withWatermark('t', '0s')
      .keyBy((e) => e.k)
      .window(tumbling('1m'))
      .aggregate(count())
      .map((r) => r)
      .filter(() => true)
      .map((r) => r)
      .to(memory())
    assert.deepEqual(ids(p), [
      'source',
      'map',
      'watermark',
      'keyBy',
      'window',
      'map-2',
      'filter',
      'map-3',
      'sink',
    ])
  })

  test('a stateless step inserted before a window, or removed, leaves the window and the steps of other kinds as they were', () => {
    const plain = start()
      .withWatermark('t', '0s')
      .keyBy((e) => e.k)
      .window(tumbling('1m'))
      .aggregate(count())
      .to(memory())
    const withSteps = start()
      .map((e) => e)
      .filter(() => true)
      .withWatermark('t', '0s')
      .flatMap((e) => [e])
      .keyBy((e) => e.k)
      .window(tumbling('1m'))
      .aggregate(count())
      .to(memory())
    const stateful = (p: Pipeline<unknown>) =>
      p.plan.nodes.filter((n) => ['watermark', 'keyBy', 'window'].includes(n.kind)).map((n) => n.id)
    assert.deepEqual(stateful(plain), ['watermark', 'keyBy', 'window'])
    assert.deepEqual(stateful(withSteps), stateful(plain))
  })

  test('naming one step does not rename another of its kind', () => {
    const p = start()
      .map((e) => e)
      .name('first')
      .map((e) => e)
      .to(memory())
    assert.deepEqual(ids(p), ['source', 'first', 'map-2', 'sink'])
  })
})

describe('.name()', () => {
  test('names the step just added on a Stream, a KeyedStream and a WindowedStream', () => {
    const p = start()
      .name('clicks')
      .map((e) => e)
      .name('enrich')
      .withWatermark('t', '0s')
      .keyBy((e) => e.k)
      .name('by-user')
      .window(tumbling('1m'))
      .name('per-minute')
      .aggregate(count())
      .to(memory(), { name: 'out' })
    assert.deepEqual(ids(p), ['clicks', 'enrich', 'watermark', 'by-user', 'per-minute', 'out'])
    assert.deepEqual(
      p.plan.nodes.map((n) => n.named),
      [true, true, false, true, true, true],
    )
    assert.match(describePlan(p.plan), /\n {2}window {4}per-minute {2}window=/)
  })

  test('after aggregate() names the window, like the aggregate option', () => {
    const named = start()
      .withWatermark('t', '0s')
      .keyBy((e) => e.k)
      .window(tumbling('1m'))
      .aggregate(count())
      .name('hourly')
      .to(memory())
    assert.equal(named.plan.nodes.find((n) => n.kind === 'window')?.id, 'hourly')
  })

  test('is a new stream: the stream it was called on keeps its derived id', () => {
    const mapped = start().map((e) => e)
    mapped.name('renamed')
    assert.deepEqual(ids(mapped.to(memory())), ['source', 'map', 'sink'])
  })

  const refused: [string, () => unknown, RegExp][] = [
    [
      'a name with a space',
      () => start().name('my source'),
      /invalid step name "my source": use letters, digits/,
    ],
    ['a name with a slash', () => start().map((e) => e, { name: 'a/b' }), /invalid step name "a\/b"/],
    ['an empty name', () => start().name(''), /invalid step name ""/],
    [
      'a name too long for its changelog topic',
      () => start().name('x'.repeat(240)),
      /changelog topic "ids-…-changelog" would have 254 characters, and Kafka allows 249/,
    ],
    [
      'two steps with one name',
      () =>
        start()
          .map((e) => e)
          .name('a')
          .filter(() => true)
          .name('a'),
      /Two steps of pipeline "ids" are named "a"\./,
    ],
    [
      'a name that another step has as its derived id',
      () =>
        start()
          .map((e) => e)
          .filter(() => true)
          .name('map'),
      /named "map": it is the id derived for the map step; name that step, or choose another name/,
    ],
    [
      'a derived id that an earlier step has as its name',
      () =>
        start()
          .filter(() => true, { name: 'map' })
          .map((e) => e)
          .to(memory()),
      /named "map": it is the id derived for the map step/,
    ],
    [
      'a step named twice',
      () =>
        start()
          .map((e) => e, { name: 'a' })
          .name('b'),
      /map step "a" .* is named twice/,
    ],
    [
      'a window named twice',
      () =>
        start()
          .withWatermark('t', '0s')
          .keyBy((e) => e.k)
          .window(tumbling('1m'))
          .name('a')
          .aggregate(count(), { name: 'b' }),
      /window step .* is named twice \("a" and "b"\)/,
    ],
  ]
  for (const [what, build, message] of refused) {
    test(`refuses ${what} with a UsageError`, () => {
      assert.throws(build, (error: unknown) => {
        assert.ok(error instanceof UsageError, String(error))
        assert.match(error.message, message)
        return true
      })
    })
  }
})

describe('YAML name:', () => {
  const file = (steps: string) =>
    `pipeline: p\nsource: { generator: { count: 1 } }\nwatermark: { field: ts, delay: 5s }\nsteps:\n${steps}\nsink: { console: }\n`

  async function problemsOf(text: string): Promise<string[]> {
    try {
      await parsePipelineYaml(text, { file: 'p.yaml' })
    } catch (error) {
      assert.ok(error instanceof PipelineFileError, String(error))
      return error.message.split('\n')
    }
    assert.fail('the file was accepted')
  }

  test('names steps, the window by its window or aggregate step; id: is still read', async () => {
    const p = await parsePipelineYaml(
      file(
        [
          '  - filter: event.page != ""',
          '    name: pages',
          '  - keyBy: event.page',
          '    name: by-page',
          '  - window: { tumbling: 1m }',
          '    name: per-minute',
          '  - aggregate: { fields: { views: count } }',
          '  - dedupe: { key: event.key, within: 1m }',
          '    id: once',
        ].join('\n'),
      ),
      { file: 'p.yaml' },
    )
    assert.deepEqual(ids(p), [
      'source',
      'parse',
      'watermark',
      'pages',
      'by-page-inputs',
      'by-page',
      'per-minute',
      'once',
      'sink',
    ])
  })

  test('a bad, duplicate or doubled name is a problem at its place in the file', async () => {
    assert.deepEqual(await problemsOf(file('  - filter: "true"\n    name: "a b"')), [
      'p.yaml:6:11: steps[0].name: a step name uses letters, digits, ".", "_" and "-", starting with a letter or digit (it names state and topics)',
    ])
    assert.deepEqual(await problemsOf(file('  - filter: "true"\n    name: a\n    id: a')), [
      'p.yaml:7:9: steps[0].id: give the step one name: name (id is its older spelling)',
    ])
    assert.deepEqual(await problemsOf(file('  - filter: "true"\n    name: a\n  - map: event\n    name: a')), [
      'p.yaml:8:11: Two steps of pipeline "p" are named "a".',
    ])
    const both = await problemsOf(
      file(
        [
          '  - keyBy: event.page',
          '  - window: { tumbling: 1m }',
          '    name: w',
          '  - aggregate: { fields: { views: count } }',
          '    name: a',
        ].join('\n'),
      ),
    )
    assert.equal(both.length, 1)
    assert.match(
      both[0]!,
      /^p\.yaml:8:\d+: window and aggregate are one step: name the window or the aggregate/,
    )
  })
})
