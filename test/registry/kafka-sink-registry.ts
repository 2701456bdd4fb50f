import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { clickEventSchema } from '../../src/clickstream/zod-schema.ts'
import { kafkaSink } from '../../src/connectors/kafka/sink.ts'
import { kafka } from '../../src/connectors/kafka/source.ts'
import { memory } from '../../src/connectors/testing/memory.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { produceClickstream } from '../../src/producer/produce.ts'
import { RegistryClient } from '../../src/registry/client.ts'
import { RegistryError } from '../../src/registry/errors.ts'
import { registry } from '../../src/registry/registry-parser.ts'
import { FORMATS } from '../../src/registry/schema-type.ts'
import { run } from '../../src/runtime/run.ts'
import type { TestRegistry } from '../helpers/apicurio.ts'
import { brokers, freshTopic } from '../helpers/kafka.ts'

export function kafkaSinkRegistryTests(registryServer: () => Promise<TestRegistry>): void {
  /**
   * The Kafka sink writes Avro, Protobuf and JSON Schema in the Confluent wire format with the schema it
   * registers from the pipeline's row type; parse(registry()) reads back what it wrote; an incompatible schema
   * is refused at start, before anything is written. Against a real registry (Apicurio Registry).
   */

  let server: TestRegistry
  const dirs: string[] = []
  before(async () => {
    server = await registryServer()
  })
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  })

  async function checkpoint(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-registry-sink-'))
    dirs.push(dir)
    return join(dir, 'ckpt')
  }

  type Row = Record<string, unknown>

  /** Absent, null and unset are one thing across the formats (Avro writes null, Protobuf leaves unset). */
  function withoutNulls(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(withoutNulls)
    if (typeof value !== 'object' || value === null) return value
    const out: Row = {}
    for (const [key, field] of Object.entries(value)) if (field !== null) out[key] = withoutNulls(field)
    return out
  }

  const byEventId = (rows: readonly unknown[]) =>
    [...rows].sort((a, b) => String((a as Row).event_id).localeCompare(String((b as Row).event_id)))

  const COUNT = 300
  const JSON_FIELDS = ['device', 'page', 'utm', 'product', 'cart', 'order', 'error']

  async function clickstreamTopic(): Promise<string> {
    const topic = await freshTopic('registry-sink-in', 2)
    const summary = await produceClickstream({
      seed: 23,
      users: 200,
      startTime: Date.parse('2026-03-02T09:00:00Z'),
      count: COUNT,
      rate: 0,
      destination: { kind: 'kafka', topic, brokers: brokers(), partitions: 2 },
    })
    assert.equal(summary.delivered, COUNT)
    return topic
  }

  const read = (topic: string) => kafka({ brokers: brokers(), topics: topic, endingOffsets: 'latest' })

  async function readBack(name: string, topic: string, subject: string) {
    const sink = memory<Row>()
    await run(
      pipeline(name)
        .from(read(topic))
        .parse(registry<Row>({ url: server.url, subject }))
        .to(sink),
      { checkpoint: await checkpoint(), trigger: { kind: 'availableNow' } },
    )
    return sink
  }

  describe('the Kafka sink in the registry formats', () => {
    test('the clickstream written in Avro, Protobuf and JSON Schema reads back as the JSON path has it', async () => {
      const input = await clickstreamTopic()
      const json = memory<Row>()
      await run(pipeline('sink-json-path').from(read(input)).parse(clickEventSchema).to(json), {
        checkpoint: await checkpoint(),
        trigger: { kind: 'availableNow' },
      })
      assert.equal(json.rows.length, COUNT)
      const expected = byEventId(json.rows)
      for (const format of FORMATS) {
        const output = await freshTopic(`registry-sink-${format}`, 1)
        await run(
          pipeline(`sink-${format}`)
            .from(read(input))
            .parse(clickEventSchema)
            .to(
              kafkaSink({
                brokers: brokers(),
                topic: output,
                format: registry({ url: server.url, type: format }),
              }),
            ),
          { checkpoint: await checkpoint(), trigger: { kind: 'availableNow' } },
        )
        const back = await readBack(`sink-${format}-back`, output, `${output}-value`)
        assert.deepEqual(
          back.deadLetters.map((d) => d.reason),
          [],
          format,
        )
        // The derived Avro and Protobuf schemas hold objects as their JSON text (they have no "any" type).
        const want = expected.map((row) => {
          if (format === 'json-schema') return withoutNulls(row)
          const out: Row = { ...(row as Row) }
          for (const field of JSON_FIELDS)
            if (out[field] !== undefined && out[field] !== null) out[field] = JSON.stringify(out[field])
          return withoutNulls(out)
        })
        assert.deepEqual(byEventId(back.rows.map(withoutNulls)), want, format)
      }
    })

    test('a schema the subject refuses as incompatible stops the sink at start with the registry message, nothing written', async () => {
      const input = await clickstreamTopic()
      const output = await freshTopic('registry-sink-refused', 1)
      const subject = `${output}-value`
      const client = new RegistryClient({ url: server.url })
      await client.setCompatibility(subject, 'BACKWARD')
      // Older records have user_id a long: the derived schema's optional string cannot read them.
      await client.register(subject, {
        schemaType: 'AVRO',
        schema: JSON.stringify({
          type: 'record',
          name: 'registry_sink_refused',
          namespace: 'sluice',
          fields: [{ name: 'user_id', type: 'long' }],
        }),
      })
      await assert.rejects(
        run(
          pipeline('sink-refused')
            .from(read(input))
            .parse(clickEventSchema)
            .to(
              kafkaSink({
                brokers: brokers(),
                topic: output,
                format: registry({ url: server.url, type: 'avro' }),
              }),
            ),
          { checkpoint: await checkpoint(), trigger: { kind: 'availableNow' } },
        ),
        (error: unknown) => {
          assert.ok(error instanceof RegistryError, String(error))
          assert.equal(error.status, 409)
          assert.equal(error.exitCode, 2)
          assert.match(
            error.message,
            /refused POST .*\/subjects\/.*-value\/versions \(HTTP 409.*\): .*Incompatible/,
          )
          return true
        },
      )
      const written = memory()
      await run(pipeline('sink-refused-read').from(read(output)).to(written), {
        checkpoint: await checkpoint(),
        trigger: { kind: 'availableNow' },
      })
      assert.equal(written.rows.length, 0)
    })

    test('a row the schema does not take is a dead letter with the reason; rows without a row type need a schema', async () => {
      const input = await clickstreamTopic()
      const output = await freshTopic('registry-sink-letters', 1)
      const schema = {
        type: 'record',
        name: 'Visit',
        fields: [
          { name: 'event_id', type: 'string' },
          { name: 'price', type: 'double' },
        ],
      }
      const dlq = await freshTopic('registry-sink-letters-dlq', 1)
      const sink = kafkaSink<Row>({
        brokers: brokers(),
        topic: output,
        deadLetterTopic: dlq,
        format: registry({ url: server.url, type: 'avro', schema }),
      })
      const visits = pipeline('sink-letters')
        .from(read(input))
        .parse(clickEventSchema)
        .map((e) => ({ event_id: e.event_id, price: e.product?.price ?? 'none' }))
      const summary = await run(visits.to(sink), {
        checkpoint: await checkpoint(),
        trigger: { kind: 'availableNow' },
      })
      const back = await readBack('sink-letters-back', output, `${output}-value`)
      assert.ok(back.rows.length > 0 && back.rows.length < COUNT, String(back.rows.length))
      assert.ok(back.rows.every((row) => typeof row.price === 'number'))
      assert.equal(summary.deadLetteredRows, COUNT - back.rows.length)
      const letters = memory<{ reason: string | undefined; row: unknown }>()
      await run(
        pipeline('sink-letters-dlq')
          .from(read(dlq))
          .map((value, meta) => ({
            reason: meta.headers['sluice-dlq-reason'],
            row: JSON.parse(String(value)),
          }))
          .to(letters),
        { checkpoint: await checkpoint(), trigger: { kind: 'availableNow' } },
      )
      assert.equal(letters.rows.length, COUNT - back.rows.length)
      for (const letter of letters.rows) {
        assert.match(
          letter.reason ?? '',
          /-value \(schema id \d+\): Value does not fit the Avro schema Visit at price/,
        )
        assert.equal((letter.row as Row).price, 'none')
      }

      await assert.rejects(
        run(
          visits.to(
            kafkaSink({
              brokers: brokers(),
              topic: output,
              format: registry({ url: server.url, type: 'protobuf' }),
            }),
          ),
          { checkpoint: await checkpoint(), trigger: { kind: 'availableNow' } },
        ),
        /derived from the pipeline's row type, and its rows have none .*give registry\(\{ schema \}\)/,
      )
    })
  })
}
