import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { z } from 'zod'
import { count } from '../../src/aggregate/index.ts'
import { memory } from '../../src/connectors/testing/memory.ts'
import { memorySource } from '../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { TestDriver } from '../../src/testing/test-driver.ts'
import { tumbling } from '../../src/window/index.ts'

const T0 = Date.parse('2026-11-25T10:00:00Z')
const _iso = (ms: number) => new Date(ms).toISOString()

const Click = z.object({ user: z.string(), page: z.string(), price: z.number().default(0), at: z.string() })

function clicks() {
  return pipeline('clicks').from(memorySource('clicks')).parse(Click, { schemaName: 'Click' })
}

describe('parse and dead letters', () => {
  test('bad input goes to the dead-letter output with a reason; good input continues', async () => {
    const p = clicks()
      .withWatermark('at', '0s')
      .keyBy((c) => c.user)
      .window(tumbling('1m'))
      .aggregate(count(), { outputMode: 'update' })
      .to(memory())
    const driver = await TestDriver.create(p, { startTime: T0 })
    driver.send([
      '{"user":"a","page":"/","at":"2026-11-25T10:00:01Z"}',
      '{"user":"a","page":"/",',
      Buffer.from([0x7b, 0xff, 0xfe, 0x7d]),
      '{"user":"a","page":7,"at":"2026-11-25T10:00:01Z"}',
      null,
      '{"user":"","page":"/","at":"2026-11-25T10:00:01Z"}',
      '{"user":"b","page":"/","at":"2030-01-01T00:00:00Z"}',
      '{"user":"b","page":"/","at":"1969-12-31T23:59:59Z"}',
      '{"user":"b","page":"/","at":"not a time"}',
    ])
    driver.runBatch()
    const letters = driver.deadLetters.map((d) => [d.operator, d.reason])
    const expected: [string, RegExp][] = [
      ['parse', /^malformed JSON/],
      ['parse', /^invalid UTF-8$/],
      ['parse', /^schema violation: page: /],
      ['parse', /^empty value/],
      ['keyBy', /^null key/],
      ['watermark', /^event time too far in the future in "at"/],
      ['watermark', /^event time before 1970 in "at"/],
      ['watermark', /^invalid event time in "at"/],
    ]
    assert.equal(letters.length, expected.length, JSON.stringify(letters))
    for (const [i, [operator, reason]] of expected.entries()) {
      assert.equal(letters[i]?.[0], operator)
      assert.match(String(letters[i]?.[1]), reason)
    }
    assert.deepEqual(
      driver.output.map((r) => [r.key, r.value]),
      [['a', 1]],
    )
    const utf8 = driver.deadLetters.find((d) => d.reason === 'invalid UTF-8')!
    assert.deepEqual(utf8.raw, Buffer.from([0x7b, 0xff, 0xfe, 0x7d]))
    assert.equal(utf8.partition, 'p0')
    assert.equal(utf8.offset, 2)
  })
})

describe('endInput', () => {
  test('records sent and not yet run are processed before the input ends, not dropped as late', async () => {
    const p = clicks()
      .withWatermark('at', '0s', { late: 'dead-letter' })
      .keyBy((c) => c.user)
      .window(tumbling('1m'))
      .aggregate(count())
      .to(memory())
    const driver = await TestDriver.create(p, { startTime: T0 })
    driver.send([
      '{"user":"a","page":"/","at":"2026-11-25T10:00:01Z"}',
      '{"user":"a","page":"/","at":"2026-11-25T10:00:02Z"}',
      '{"user":"b","page":"/","at":"2026-11-25T10:01:30Z"}',
    ])
    const out = driver.endInput()
    assert.deepEqual(driver.deadLetters, [])
    assert.deepEqual(
      driver.output.map((r) => `${r.key} ${r.value}`),
      ['a 2', 'b 1'],
    )
    assert.equal(out.rows.length, 2, 'endInput returns the rows of both batches')
    assert.equal(out.counters.inputRows, 3)
  })
})

test('a record sent after the input ended is a late dead letter that says so', async () => {
  const p = clicks()
    .withWatermark('at', '0s', { late: 'dead-letter' })
    .keyBy((c) => c.user)
    .window(tumbling('1m'))
    .aggregate(count())
    .to(memory())
  const driver = await TestDriver.create(p, { startTime: T0 })
  driver.endInput()
  driver.send(['{"user":"a","page":"/","at":"2026-11-25T10:00:01Z"}'])
  driver.runBatch()
  assert.equal(driver.deadLetters.length, 1)
  assert.match(driver.deadLetters[0]!.reason, /behind the watermark \(the input has ended\)/)
})

describe('record metadata in step functions', () => {
  test('map, filter and flatMap read the key, timestamp, headers, partition and offset of the record', async () => {
    const p = clicks()
      .filter((_click, meta) => meta.headers.source !== 'bot')
      .map((c, meta) => ({
        user: c.user,
        key: meta.key,
        at: meta.timestamp,
        from: meta.headers.source ?? null,
      }))
      .flatMap((row, meta) => [{ ...row, where: `${meta.partition}@${meta.offset}` }])
      .to(memory())
    const driver = await TestDriver.create(p, { startTime: T0 })
    driver.send('{"user":"a","page":"/","at":"2026-11-25T10:00:01Z"}', {
      key: 'user-a',
      timestamp: T0 + 5,
      headers: { source: 'web' },
    })
    driver.send('{"user":"b","page":"/","at":"2026-11-25T10:00:02Z"}', { headers: { source: 'bot' } })
    driver.send('{"user":"c","page":"/","at":"2026-11-25T10:00:03Z"}')
    driver.runBatch()
    assert.deepEqual(driver.output, [
      { user: 'a', key: 'user-a', at: T0 + 5, from: 'web', where: 'p0@0' },
      { user: 'c', key: null, at: T0, from: null, where: 'p0@2' },
    ])
  })
})
