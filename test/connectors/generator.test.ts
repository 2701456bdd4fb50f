import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { describe, test } from 'node:test'
import { murmur2 as kafkaMurmur2 } from '@platformatic/kafka'
import { ClickstreamGenerator } from '../../src/clickstream/generator.ts'
import type { ClickEvent } from '../../src/clickstream/index.ts'
import { clickEventSchema } from '../../src/clickstream/zod-schema.ts'
import { murmur2 } from '../../src/connectors/kafka/murmur2.ts'
import {
  DEFAULT_GENERATOR_START,
  type GeneratorRecord,
  type GeneratorSourceOptions,
  generator,
  kafkaPartition,
} from '../../src/connectors/testing/generator-source.ts'
import { memory } from '../../src/connectors/testing/memory.ts'
import { zodValidator } from '../../src/dsl/parse.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { UsageError } from '../../src/errors.ts'
import { run } from '../../src/runtime/run.ts'
import type { PollOptions, Positions, SourceReader } from '../../src/runtime/source.ts'
import { validator } from '../clickstream/json-schema.ts'
import { tempDir } from './files/helpers.ts'

const context = { pipelineId: 'test', now: () => 0 }

function poll(reader: SourceReader, overrides: Partial<PollOptions> = {}): Promise<GeneratorRecord[]> {
  return reader.poll({
    maxRecords: 1000,
    maxBytes: 1 << 30,
    lingerMs: 0,
    idleMs: 0,
    ...overrides,
  }) as Promise<GeneratorRecord[]>
}

async function read(
  options: GeneratorSourceOptions,
  n: number,
  resumeFrom?: Positions,
  batch = 1000,
): Promise<{ records: GeneratorRecord[]; next: Positions }> {
  const reader = generator(options).create(context)
  await reader.open(resumeFrom)
  const records: GeneratorRecord[] = []
  while (records.length < n) {
    const got = await poll(reader, { maxRecords: Math.min(batch, n - records.length) })
    if (got.length === 0) break
    records.push(...got)
  }
  const next: Record<string, number> = { ...resumeFrom }
  for (const r of records) next[r.partition] = r.offset + 1
  await reader.close()
  return { records, next }
}

const comparable = (r: GeneratorRecord) => [
  r.partition,
  r.offset,
  r.key,
  r.value.toString('base64'),
  r.timestamp,
]

describe('generator() source', () => {
  const options: GeneratorSourceOptions = { seed: 42, users: 5000, bad: 0.02, late: 0.02, dupes: 0.02 }

  test('same seed, same records; another seed, other records', async () => {
    const a = await read(options, 3000)
    const b = await read(options, 3000, undefined, 377)
    assert.deepEqual(a.records.map(comparable), b.records.map(comparable))
    const c = await read({ ...options, seed: 43 }, 100)
    assert.notDeepEqual(
      c.records.map((r) => r.value.toString('base64')),
      a.records.slice(0, 100).map((r) => r.value.toString('base64')),
    )
  })

  test('values are the records of `sluice produce`, spread by Kafka’s key partitioner', async () => {
    const { records } = await read({ ...options, partitions: 3 }, 2000)
    const reference = new ClickstreamGenerator({
      ...options,
      seed: 42,
      users: 5000,
      startTime: DEFAULT_GENERATOR_START,
    })
    const offsets = new Map<string, number>()
    for (const record of records) {
      const expected = reference.next()
      assert.equal(record.key, expected.key)
      assert.deepEqual(record.value, expected.value)
      assert.equal(record.injected, expected.injected)
      const partition = `generator:${kafkaPartition(record.key, 3)}`
      assert.equal(record.partition, partition)
      assert.equal(record.offset, offsets.get(partition) ?? 0)
      offsets.set(partition, record.offset + 1)
    }
    assert.equal(offsets.size, 3)
    for (const key of ['u-000001', 'u-123456', 'a', 'ab', 'abc', 'abcd', 'ünïcødé-key']) {
      assert.equal(murmur2(Buffer.from(key)), kafkaMurmur2(Buffer.from(key)), key)
    }
  })

  test('resuming from positions continues exactly like an uninterrupted read; `until` replays a range', async () => {
    const whole = await read(options, 5000)
    const head = await read(options, 1234, undefined, 100)
    const tail = await read(options, 5000 - 1234, head.next)
    assert.deepEqual([...head.records, ...tail.records].map(comparable), whole.records.map(comparable))

    // A replay of a logged batch: from its start positions up to its end positions, nothing more.
    const batch = whole.records.slice(1234, 2000)
    const end = { ...head.next }
    for (const r of batch) end[r.partition] = r.offset + 1
    const reader = generator(options).create(context)
    await reader.open(head.next)
    const replayed = await poll(reader, { maxRecords: 5000, until: end })
    assert.deepEqual(replayed.map(comparable), batch.map(comparable))
    assert.equal(reader.caughtUp?.(end), true)
    assert.deepEqual(
      (await poll(reader, { maxRecords: 10 })).map(comparable),
      whole.records.slice(2000, 2010).map(comparable),
    )
  })

  test('count makes it bounded: an availableNow run ends with exactly count input rows', async () => {
    const count = 2500
    const reader = generator({ ...options, count }).create(context)
    assert.equal(reader.bounded, true)
    const end = await reader.endPositions()
    assert.equal(
      Object.values(end).reduce((a, b) => a + b, 0),
      count,
    )
    const all = await read({ ...options, count }, count + 10)
    assert.equal(all.records.length, count)
    assert.deepEqual(all.next, end)
    const bad = all.records.filter((r) => r.injected?.startsWith('bad:')).length
    assert.ok(bad > 20)

    const sink = memory<ClickEvent>()
    const summary = await run(
      pipeline('generator-count')
        .from(generator({ ...options, count }))
        .parse(clickEventSchema)
        .to(sink),
      { trigger: { kind: 'availableNow' }, checkpoint: await tempDir('sluice-ckpt-'), maxBatchRecords: 700 },
    )
    assert.equal(summary.inputRows, count)
    assert.equal(summary.deadLetteredRows, bad)
    assert.equal(sink.rows.length, count - bad)
    assert.deepEqual(
      sink.rows.map((e) => e.event_id),
      all.records
        .filter((r) => !r.injected?.startsWith('bad:'))
        .map((r) => (JSON.parse(r.value.toString()) as ClickEvent).event_id),
    )
  })

  test('restarts: one batch per run; the union of the runs is the stream exactly once', async () => {
    const count = 1000
    const checkpoint = await tempDir('sluice-ckpt-')
    const sink = memory<unknown>()
    let runs = 0
    for (; runs < 50; runs++) {
      const summary = await run(
        pipeline('generator-restart')
          .from(generator({ ...options, count }))
          .to(sink),
        {
          trigger: { kind: 'availableNow' },
          checkpoint,
          maxBatches: 1,
          maxBatchRecords: 97,
        },
      )
      if (summary.batches === 0) break
    }
    assert.equal(runs, Math.ceil(count / 97))
    const expected = await read({ ...options, count }, count)
    assert.deepEqual(
      (sink.rows as Buffer[]).map((v) => v.toString('base64')),
      expected.records.map((r) => r.value.toString('base64')),
    )
  })

  test('rate: a poll returns at most what the rate allows since open, by the context clock', async () => {
    let now = 1_000_000
    const reader = generator({ ...options, rate: 100 }).create({ pipelineId: 'test', now: () => now })
    await reader.open(undefined)
    assert.equal((await poll(reader)).length, 0)
    now += 50
    assert.equal((await poll(reader)).length, 5)
    assert.equal((await poll(reader)).length, 0)
    now += 1000
    assert.equal((await poll(reader, { maxRecords: 30 })).length, 30)
    assert.equal((await poll(reader)).length, 70)
    // Waiting is bounded by idleMs: the clock does not move here, so nothing more comes.
    assert.equal((await poll(reader, { idleMs: 30 })).length, 0)
    assert.throws(() => generator({ ...options, rate: -1 }), UsageError)
  })

  test('options are checked; without count there is no end', async () => {
    assert.throws(() => generator({ bad: 0.6, late: 0.6 }), UsageError)
    assert.throws(() => generator({ partitions: 0 }), UsageError)
    assert.throws(() => generator({ count: 1.5 }), UsageError)
    const reader = generator().create(context)
    assert.equal(reader.bounded, false)
    await assert.rejects(reader.endPositions(), UsageError)
  })
})

const jsonSchema = validator(
  JSON.parse(await readFile(new URL('../../schemas/clickstream-event.schema.json', import.meta.url), 'utf8')),
)

describe('clickEventSchema', () => {
  const validate = zodValidator(clickEventSchema)

  test('10 000 generated events pass it (late and duplicate ones too), as they pass the JSON Schema', async () => {
    const { records } = await read({ seed: 7, users: 5000, late: 0.05, dupes: 0.05 }, 10_000)
    assert.equal(records.length, 10_000)
    const types = new Set<string>()
    for (const record of records) {
      const result = validate(record.value)
      assert.ok(result.ok, `${record.value.toString()}: ${result.ok ? '' : result.reason}`)
      const event: ClickEvent = clickEventSchema.parse(JSON.parse(record.value.toString()))
      types.add(event.event_type)
      assert.deepEqual(jsonSchema(event), [])
    }
    assert.equal(types.size, 11, 'every event type was checked')
  })

  test('every injected malformed record fails it, and agrees with the JSON Schema', async () => {
    const { records } = await read({ seed: 9, bad: 0.2 }, 5000)
    const kinds = new Map<string, number>()
    for (const record of records) {
      const result = validate(record.value)
      if (record.injected?.startsWith('bad:')) {
        assert.equal(result.ok, false, `${record.injected} must fail: ${record.value.toString()}`)
        kinds.set(record.injected, (kinds.get(record.injected) ?? 0) + 1)
        if (!result.ok && result.reason.startsWith('schema violation')) {
          assert.notDeepEqual(jsonSchema(JSON.parse(record.value.toString())), [])
        }
      } else {
        assert.ok(result.ok)
      }
    }
    assert.deepEqual([...kinds.keys()].sort(), [
      'bad:broken-json',
      'bad:invalid-utf8',
      'bad:missing-fields',
      'bad:wrong-types',
    ])
  })

  test('the per-event-type rules of the JSON Schema', () => {
    const event = JSON.parse(
      new ClickstreamGenerator({ seed: 1, users: 100, startTime: DEFAULT_GENERATOR_START })
        .next()
        .value.toString(),
    ) as Record<string, unknown>
    const check = (value: unknown) => [
      clickEventSchema.safeParse(value).success,
      jsonSchema(value).length === 0,
    ]
    assert.deepEqual(check(event), [true, true])
    assert.deepEqual(check({ ...event, extra: 1 }), [false, false])
    assert.deepEqual(check({ ...event, event_type: 'search' }), [false, false])
    assert.deepEqual(check({ ...event, event_type: 'search', search_query: 'shoes' }), [true, true])
    assert.deepEqual(check({ ...event, event_type: 'purchase' }), [false, false])
    assert.deepEqual(
      check({ ...event, order: { order_id: 'o-0123456789abcdef', total: 5, currency: 'EUR', items: 1 } }),
      [false, false],
    )
    const web = event.platform === 'web'
    const otherDevice = web
      ? { type: 'mobile', os: 'iOS 18.5', app_version: '5.14.0' }
      : { type: 'desktop', os: 'Windows', browser: 'Edge' }
    assert.deepEqual(check({ ...event, device: otherDevice }), [false, false])
  })
})
