import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { clickEventSchema } from '../../src/clickstream/zod-schema.ts'
import { parsePipelineYaml } from '../../src/config/load.ts'
import { KafkaProducer } from '../../src/connectors/kafka/producer.ts'
import { kafka } from '../../src/connectors/kafka/source.ts'
import { type MemorySink, memory } from '../../src/connectors/testing/memory.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { DEFAULT_RECORD_LIMITS } from '../../src/plan/record-limits.ts'
import { produceClickstream } from '../../src/producer/produce.ts'
import { registryEncoder } from '../../src/producer/registry-encoding.ts'
import { RegistryClient } from '../../src/registry/client.ts'
import { codecFor } from '../../src/registry/codec.ts'
import { RegistryError } from '../../src/registry/errors.ts'
import { registry } from '../../src/registry/registry-parser.ts'
import { FORMATS, SCHEMA_TYPES } from '../../src/registry/schema-type.ts'
import { frame } from '../../src/registry/wire-format.ts'
import { run } from '../../src/runtime/run.ts'
import type { TestRegistry } from '../helpers/apicurio.ts'
import { brokers, freshTopic } from '../helpers/kafka.ts'
import { waitFor } from '../helpers/wait.ts'

export function registryFormatTests(registryServer: () => Promise<TestRegistry>): void {
  /**
   * Avro, Protobuf and JSON Schema in the Confluent wire format against a real registry (Apicurio Registry's
   * Confluent-compatible API): the clickstream round-trips in each, schema changes mid-run, and bad records.
   */

  let server: TestRegistry
  const dirs: string[] = []
  before(async () => {
    server = await registryServer()
  })
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  })

  async function tempDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-registry-'))
    dirs.push(dir)
    return dir
  }

  /** Avro's and Protobuf's optional fields come as null or unset where JSON leaves them out or holds null. */
  function withoutNulls(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(withoutNulls)
    if (typeof value !== 'object' || value === null) return value
    const out: Record<string, unknown> = {}
    for (const [key, field] of Object.entries(value)) if (field !== null) out[key] = withoutNulls(field)
    return out
  }

  const byEventId = (rows: readonly unknown[]) =>
    [...rows].sort((a, b) =>
      (a as { event_id: string }).event_id.localeCompare((b as { event_id: string }).event_id),
    )

  const SEED = 17
  const START = Date.parse('2026-03-02T09:00:00Z')
  const COUNT = 400

  async function produceEvents(topic: string, encode?: Parameters<typeof produceClickstream>[0]['encode']) {
    const summary = await produceClickstream({
      seed: SEED,
      users: 500,
      startTime: START,
      count: COUNT,
      rate: 0,
      destination: { kind: 'kafka', topic, brokers: brokers(), partitions: 2 },
      ...(encode ? { encode } : {}),
    })
    assert.equal(summary.delivered, COUNT)
  }

  async function sendRaw(topic: string, values: readonly Buffer[]): Promise<void> {
    const producer = new KafkaProducer({ brokers: brokers() })
    try {
      await producer.send(values.map((value) => ({ topic, key: 'k', value, partition: 0 })))
    } finally {
      await producer.close()
    }
  }

  async function readAll<T>(name: string, topic: string, parse: (s: ReturnType<typeof source>) => unknown) {
    const sink = memory<T>()
    const stream = parse(source(name, topic)) as { to: (s: MemorySink<T>) => { pipeline: unknown } }
    await run(stream.to(sink) as never, {
      checkpoint: join(await tempDir(), 'ckpt'),
      trigger: { kind: 'availableNow' },
    })
    return sink
  }

  function source(name: string, topic: string) {
    return pipeline(name).from(kafka({ brokers: brokers(), topics: topic, endingOffsets: 'latest' }))
  }

  describe('schema registry formats', () => {
    test('the clickstream round-trips in Avro, Protobuf and JSON Schema with the rows of the JSON path', async () => {
      const jsonTopic = await freshTopic('registry-json', 2)
      await produceEvents(jsonTopic)
      const expected = byEventId(
        (await readAll('json-path', jsonTopic, (s) => s.parse(clickEventSchema).map(withoutNulls))).rows,
      )
      assert.equal(expected.length, COUNT)
      for (const format of FORMATS) {
        const topic = await freshTopic(`registry-${format}`, 2)
        const { encode } = await registryEncoder(format, { url: server.url }, `${topic}-value`)
        await produceEvents(topic, encode)
        const sink = await readAll(`${format}-path`, topic, (s) =>
          s.parse(registry({ url: server.url, subject: `${topic}-value` })).map(withoutNulls),
        )
        assert.deepEqual(
          sink.deadLetters.map((d) => d.reason),
          [],
          format,
        )
        assert.deepEqual(byEventId(sink.rows), expected, format)
      }
    })

    test('a compatible new version mid-run is read without a restart; an incompatible one is refused', async () => {
      const client = new RegistryClient({ url: server.url })
      const topic = await freshTopic('registry-evolve', 1)
      const subject = `${topic}-value`
      await client.setCompatibility(subject, 'BACKWARD')
      const v1 = {
        schemaType: 'AVRO' as const,
        schema: JSON.stringify({ type: 'record', name: 'Click', fields: [{ name: 'page', type: 'string' }] }),
      }
      const v1Id = await client.register(subject, v1)
      const v1Codec = codecFor(v1, DEFAULT_RECORD_LIMITS)
      await sendRaw(topic, [frame(v1Id, v1Codec.encode({ page: '/a' }))])

      const sink = memory<Record<string, unknown>>()
      const stop = new AbortController()
      const running = run(
        pipeline('evolve')
          .from(kafka({ brokers: brokers(), topics: topic }))
          .parse(registry({ url: server.url, subject }))
          .to(sink),
        {
          checkpoint: join(await tempDir(), 'ckpt'),
          trigger: { kind: 'processingTime', intervalMs: 20 },
          signal: stop.signal,
        },
      )
      try {
        await waitFor(() => sink.rows.length === 1, 60_000, 'the v1 record')

        const v2 = {
          schemaType: 'AVRO' as const,
          schema: JSON.stringify({
            type: 'record',
            name: 'Click',
            fields: [
              { name: 'page', type: 'string' },
              { name: 'referrer', type: 'string', default: '' },
            ],
          }),
        }
        assert.equal(await client.compatibility(subject, v2), true)
        const v2Id = await client.register(subject, v2)
        assert.notEqual(v2Id, v1Id)
        const v2Codec = codecFor(v2, DEFAULT_RECORD_LIMITS)
        await sendRaw(topic, [frame(v2Id, v2Codec.encode({ page: '/b', referrer: '/a' }))])
        await waitFor(() => sink.rows.length === 2, 60_000, 'the v2 record')
        assert.deepEqual(sink.rows, [{ page: '/a' }, { page: '/b', referrer: '/a' }])

        const incompatible = {
          schemaType: 'AVRO' as const,
          schema: JSON.stringify({
            type: 'record',
            name: 'Click',
            fields: [{ name: 'clicks', type: 'int' }],
          }),
        }
        const reasons = await client.compatibility(subject, incompatible)
        assert.notEqual(reasons, true)
        await assert.rejects(client.register(subject, incompatible), (error: unknown) => {
          assert.ok(error instanceof RegistryError)
          assert.equal(error.status, 409)
          assert.equal(error.retryable, false)
          assert.match(
            error.message,
            /refused POST .*\/subjects\/.*\/versions \(HTTP 409.*\): .*Incompatible/,
          )
          return true
        })
        assert.deepEqual(sink.deadLetters, [])
      } finally {
        stop.abort()
        await running
      }
    })

    test('records not in the wire format, with an unknown id or a payload that does not decode are dead letters with the reason', async () => {
      const client = new RegistryClient({ url: server.url })
      const topic = await freshTopic('registry-bad', 1)
      const schema = {
        schemaType: SCHEMA_TYPES.avro,
        schema: JSON.stringify({
          type: 'record',
          name: 'Visit',
          fields: [
            { name: 'page', type: 'string' },
            { name: 'n', type: 'long' },
          ],
        }),
      }
      const id = await client.register(`${topic}-value`, schema)
      const good = codecFor(schema, DEFAULT_RECORD_LIMITS).encode({ page: '/p', n: 3 })
      await sendRaw(topic, [
        Buffer.from('{"page":"/p","n":3}'),
        Buffer.from([0, 0, 1]),
        frame(999_999, good),
        frame(id, good.subarray(0, 2)),
        frame(id, good, Buffer.from([1, 2])),
        frame(id, good),
      ])
      const sink = await readAll('bad-wire', topic, (s) => s.parse(registry({ url: server.url })))
      assert.deepEqual(sink.rows, [{ page: '/p', n: 3 }])
      assert.deepEqual(
        sink.deadLetters.map((d) => d.reason),
        [
          'not in the Confluent wire format: magic byte 0x7b, expected 0x00',
          'not in the Confluent wire format: 3 bytes, fewer than the 5 of its header',
          `schema id 999999 is unknown to the registry at ${server.url}`,
          'avro payload cut off',
          'avro payload has 2 bytes after the value',
        ],
      )
    })

    test('a subject the registry does not have stops the run before anything is read, with its message', async () => {
      const topic = await freshTopic('registry-nosubject', 1)
      await sendRaw(topic, [Buffer.from('x')])
      await assert.rejects(
        readAll('no-subject', topic, (s) =>
          s.parse(registry({ url: server.url, subject: 'no-such-subject' })),
        ),
        (error: unknown) => {
          assert.ok(error instanceof RegistryError, String(error))
          assert.equal(error.status, 404)
          assert.match(error.message, /error 40401\): .*no-such-subject/)
          return true
        },
      )
    })

    test('a YAML pipeline reads the registry formats with schema: { registry: … }', async () => {
      const topic = await freshTopic('registry-yaml', 2)
      const { encode } = await registryEncoder('protobuf', { url: server.url }, `${topic}-value`)
      await produceEvents(topic, encode)
      const sink = memory()
      const yaml = `pipeline: yaml-registry\nsource: { generator: { count: 1 } }\nschema: { registry: { url: "${server.url}", subject: ${topic}-value } }\nsteps:\n  - filter: event.platform == "web"\nsink: { console: }\n`
      const loaded = await parsePipelineYaml(yaml, {
        file: 'registry.yaml',
        overrides: { source: kafka({ brokers: brokers(), topics: topic, endingOffsets: 'latest' }), sink },
      })
      await run(loaded, { checkpoint: join(await tempDir(), 'ckpt'), trigger: { kind: 'availableNow' } })
      assert.deepEqual(sink.deadLetters, [])
      assert.ok(sink.rows.length > 0)
      assert.ok(sink.rows.every((row) => (row as { platform: string }).platform === 'web'))
    })
  })
}
