import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { z } from 'zod'
import { KafkaProducer } from '../../src/connectors/kafka/producer.ts'
import { kafka } from '../../src/connectors/kafka/source.ts'
import { memory } from '../../src/connectors/testing/memory.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { run } from '../../src/runtime/run.ts'
import { brokers, freshTopic, uniqueGroup } from '../helpers/kafka.ts'

test('a TypeScript pipeline reads each Kafka record key, timestamp and headers in its steps', async (t) => {
  const topic = await freshTopic('meta-in', 1)
  const checkpoint = await mkdtemp(join(tmpdir(), 'sluice-meta-'))
  t.after(() => rm(checkpoint, { recursive: true, force: true }))
  const producer = new KafkaProducer({ brokers: brokers() })
  try {
    await producer.send([
      { topic, key: 'user-1', value: '{"n":1}', timestamp: 1_700_000_000_000, headers: { source: 'web' } },
      { topic, key: 'user-2', value: '{"n":2}', timestamp: 1_700_000_000_500, headers: { source: 'bot' } },
      { topic, value: '{"n":3}', timestamp: 1_700_000_001_000 },
    ])
  } finally {
    await producer.close()
  }
  const sink = memory<{ n: number; key: string | null; at: number; source: string | null; where: string }>()
  const p = pipeline('meta')
    .from(kafka({ topics: topic, brokers: brokers(), groupId: uniqueGroup('meta') }))
    .parse(z.object({ n: z.number() }))
    .filter((_event, meta) => meta.headers.source !== 'bot')
    .map((event, meta) => ({
      n: event.n,
      key: meta.key,
      at: meta.timestamp,
      source: meta.headers.source ?? null,
      where: `${meta.partition.slice(meta.partition.lastIndexOf(':'))}@${meta.offset}`,
    }))
    .to(sink)
  await run(p, { checkpoint, trigger: { kind: 'availableNow' } })
  assert.deepEqual(sink.rows, [
    { n: 1, key: 'user-1', at: 1_700_000_000_000, source: 'web', where: ':0@0' },
    { n: 3, key: null, at: 1_700_000_001_000, source: null, where: ':0@2' },
  ])
})
