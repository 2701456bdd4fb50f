import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { z } from 'zod'
import { KafkaAdmin } from '../../src/connectors/kafka/admin.ts'
import { KafkaConsumer } from '../../src/connectors/kafka/consumer.ts'
import { withKafkaDeadLetters } from '../../src/connectors/kafka/dead-letters.ts'
import { KafkaProducer } from '../../src/connectors/kafka/producer.ts'
import type { ConsumedRecord } from '../../src/connectors/kafka/records.ts'
import { kafkaSink } from '../../src/connectors/kafka/sink.ts'
import { kafka } from '../../src/connectors/kafka/source.ts'
import { memory } from '../../src/connectors/testing/memory.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { run } from '../../src/runtime/run.ts'
import type { SinkSpec } from '../../src/runtime/sink.ts'
import { brokers, freshTopic, uniqueGroup } from '../helpers/kafka.ts'

const dirs: string[] = []
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

/**
 * Issue 12 item 4: a non-JSON value of 1,048,460 bytes fits a topic with the broker's default limit
 * (message.max.bytes 1,048,588), but its dead letter, the value plus ~170 bytes of headers, did not: the
 * broker refused it on every retry and the pipeline stopped for good. Random bytes, so that compression
 * cannot make it fit.
 */
const HUGE = 1_048_460

async function produce(topic: string, values: readonly (string | Buffer)[]): Promise<void> {
  const producer = new KafkaProducer({ brokers: brokers() })
  try {
    // One send per record: a near-limit record travels alone in its batch.
    for (const value of values) await producer.send([{ topic, key: 'k', value }])
  } finally {
    await producer.close()
  }
}

async function readAll(topic: string, n: number): Promise<ConsumedRecord[]> {
  const consumer = new KafkaConsumer({
    brokers: brokers(),
    groupId: uniqueGroup('verify'),
    topics: [topic],
    start: { from: 'earliest' },
  })
  const out: ConsumedRecord[] = []
  try {
    for await (const batch of consumer.batches({
      maxRecords: 100,
      lingerMs: 50,
      idleMs: 500,
      signal: AbortSignal.timeout(60_000),
    })) {
      out.push(...batch)
      if (out.length >= n) break
    }
  } finally {
    await consumer.close()
  }
  return out
}

const header = (r: ConsumedRecord, name: string) =>
  [...r.headers].find(([k]) => k.toString() === name)?.[1].toString()

async function runWith(name: string, input: string, sink: (dlq: string) => SinkSpec<unknown>) {
  const dlq = await freshTopic(`${name}-dlq`)
  const checkpoint = await mkdtemp(join(tmpdir(), 'sluice-dlq-size-'))
  dirs.push(checkpoint)
  const p = pipeline(name)
    .from(kafka({ topics: input, brokers: brokers(), groupId: uniqueGroup(name) }))
    .parse(z.object({ id: z.number() }))
    .to(sink(dlq) as SinkSpec<{ id: number }>)
  const summary = await run(p, { checkpoint, trigger: { kind: 'availableNow' }, maxBatchRecords: 2 })
  return { dlq, summary }
}

describe('a dead letter bigger than its topic takes', () => {
  test('is cut to fit, with headers saying so, and the records after it are processed', async () => {
    const input = await freshTopic('dlq-size-in')
    const admin = new KafkaAdmin({ brokers: brokers() })
    try {
      // The broker's default, which the dead-letter topics below have too.
      assert.equal(await admin.maxMessageBytes(input), 1_048_588)
    } finally {
      await admin.close()
    }
    const huge = randomBytes(HUGE)
    huge[0] = 0x78 // not JSON, whatever the random bytes
    await produce(input, ['{"id":1}', huge, '{"id":2}', '{"id":3}'])

    const check = async (dlq: string) => {
      const [letter] = await readAll(dlq, 1)
      assert.ok(letter)
      assert.match(header(letter, 'sluice-dlq-reason') ?? '', /^invalid UTF-8|^malformed JSON/)
      assert.equal(header(letter, 'sluice-dlq-truncated'), 'true')
      assert.equal(header(letter, 'sluice-dlq-original-bytes'), String(HUGE))
      assert.equal(
        header(letter, 'sluice-dlq-original-sha256'),
        createHash('sha256').update(huge).digest('hex'),
      )
      const kept = letter.value!
      assert.ok(kept.length > HUGE - 8192 && kept.length < HUGE, `kept ${kept.length} bytes`)
      assert.ok(kept.equals(huge.subarray(0, kept.length)), 'the start of the original')
    }

    // kafkaSink: the dead letter travels in the batch's transaction with the rows.
    const output = await freshTopic('dlq-size-out')
    const direct = await runWith('dlq-size-direct', input, (dlq) =>
      kafkaSink({ topic: output, brokers: brokers(), deadLetterTopic: dlq }),
    )
    assert.equal(direct.summary.inputRows, 4)
    assert.equal(direct.summary.deadLetteredRows, 1)
    const rows = await readAll(output, 3)
    assert.deepEqual(
      rows.map((r) => r.value!.toString()),
      ['{"id":1}', '{"id":2}', '{"id":3}'],
    )
    await check(direct.dlq)

    // withKafkaDeadLetters: dead letters of a sink that does not keep them.
    const rowsTee = memory<{ id: number }>()
    const tee = await runWith('dlq-size-tee', input, (dlq) =>
      withKafkaDeadLetters(rowsTee as SinkSpec<unknown>, { topic: dlq, brokers: brokers() }),
    )
    assert.equal(tee.summary.deadLetteredRows, 1)
    assert.deepEqual(
      rowsTee.rows.map((r) => r.id),
      [1, 2, 3],
    )
    await check(tee.dlq)
  })
})
