import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { files } from '../../src/connectors/files/index.ts'
import { kafkaSink, recordValue } from '../../src/connectors/kafka/sink.ts'
import { memorySource } from '../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { UsageError } from '../../src/errors.ts'
import { run } from '../../src/runtime/run.ts'
import { brokers, freshTopic, readRecords } from '../helpers/kafka.ts'

/**
 * What kafkaSink writes for a row without `serialize`: strings and bytes as they are, null as a null value,
 * everything else as JSON. A string used to be JSON-quoted, so a JSON-lines file copied into a topic came out
 * as `"{\"id\":\"a\"}"` and every reader dead-lettered every record.
 */

describe('recordValue: the default value of a row', () => {
  test('strings and bytes as they are, null as null, the rest as JSON', () => {
    assert.equal(recordValue('{"id":"a"}'), '{"id":"a"}')
    assert.equal(recordValue('plain text'), 'plain text')
    const bytes = Buffer.from([0xff, 0x00, 0x7b])
    assert.equal(recordValue(bytes), bytes)
    const array = new Uint8Array([1, 2, 3, 4]).subarray(1, 3)
    assert.deepEqual(recordValue(array), Buffer.from([2, 3]))
    assert.equal(recordValue(null), null)
    assert.equal(recordValue(undefined), null)
    assert.equal(recordValue({ id: 'a', n: 1 }), '{"id":"a","n":1}')
    assert.equal(recordValue([1, 'x']), '[1,"x"]')
    assert.equal(recordValue(42), '42')
    assert.equal(recordValue(false), 'false')
  })

  test('a row JSON cannot write asks for serialize', () => {
    assert.throws(
      () => recordValue({ n: 1n }),
      (e) => e instanceof UsageError && /serialize/.test(e.message),
    )
    assert.throws(
      () => recordValue(() => 1),
      (e) => e instanceof UsageError && /serialize/.test(e.message),
    )
  })
})

describe('kafkaSink against the broker', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-sink-values-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  test('a JSON-lines file copied into a topic: the exact bytes of every line come back', async () => {
    const lines = [
      '{"id":"a"}',
      '{ "id" : "b",  "spaced": true }',
      '{"id":"c","text":"grüße, 日本"}',
      '{"id":"d","big":12345678901234567890}',
      '[1,2,3]',
    ]
    const path = join(dir, 'copy.jsonl')
    await writeFile(path, `${lines.join('\n')}\n`)
    const topic = await freshTopic('sink-copy')
    const summary = await run(
      pipeline('copy-jsonl')
        .from(files({ path, format: 'jsonl' }))
        .to(kafkaSink({ topic, brokers: brokers() })),
      { checkpoint: join(dir, 'cp-copy'), trigger: { kind: 'availableNow' } },
    )
    assert.equal(summary.outputRows, lines.length)
    const records = await readRecords(topic, lines.length)
    assert.deepEqual(
      records.map((r) => r.value),
      lines.map((l) => Buffer.from(l)),
    )
  })

  test('strings, bytes, objects, numbers and null rows, each as the rule says', async () => {
    const rows: unknown[] = [
      'text, not JSON',
      Buffer.from([0xde, 0xad, 0xbe, 0xef]),
      new Uint8Array([0x68, 0x69]),
      { key: 'k1', v: 1 },
      7,
      null,
    ]
    const topic = await freshTopic('sink-values')
    await run(
      pipeline('values')
        .from(memorySource('values', rows))
        .to(kafkaSink({ topic, brokers: brokers() })),
      {
        checkpoint: join(dir, 'cp-values'),
        trigger: { kind: 'availableNow' },
      },
    )
    const records = await readRecords(topic, rows.length)
    assert.deepEqual(
      records.map((r) => r.value ?? null),
      [
        Buffer.from('text, not JSON'),
        Buffer.from([0xde, 0xad, 0xbe, 0xef]),
        Buffer.from('hi'),
        Buffer.from('{"key":"k1","v":1}'),
        Buffer.from('7'),
        null,
      ],
    )
    assert.equal(records[3]?.key?.toString(), 'k1', "an object's `key` field is still the record key")
    // The sink adds no headers of its own (a `sluice-batch` header per record cost about 7 % of the etl
    // workload's CPU per event, and nothing read it).
    assert.deepEqual(
      records.map((r) => [...r.headers.keys()].map(String)),
      rows.map(() => []),
    )
  })

  test('serialize still decides when given', async () => {
    const topic = await freshTopic('sink-serialize')
    await run(
      pipeline('serialize')
        .from(memorySource('s', ['a', 'b']))
        .to(kafkaSink({ topic, brokers: brokers(), serialize: (row) => JSON.stringify({ wrapped: row }) })),
      { checkpoint: join(dir, 'cp-serialize'), trigger: { kind: 'availableNow' } },
    )
    const records = await readRecords(topic, 2)
    assert.deepEqual(
      records.map((r) => r.value?.toString()),
      ['{"wrapped":"a"}', '{"wrapped":"b"}'],
    )
  })
})
