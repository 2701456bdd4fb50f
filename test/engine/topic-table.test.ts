import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { z } from 'zod'
import { KafkaAdmin } from '../../src/connectors/kafka/admin.ts'
import { KafkaProducer } from '../../src/connectors/kafka/producer.ts'
import { kafka } from '../../src/connectors/kafka/source.ts'
import { topicTable } from '../../src/connectors/kafka/topic-table.ts'
import { foreachBatch } from '../../src/connectors/testing/foreach-batch.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { run } from '../../src/runtime/run.ts'
import { brokers, freshTopic } from '../helpers/kafka.ts'

let dir: string | undefined
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

test('a join table from a compacted topic is loaded before the first batch and kept current', async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-table-'))
  const productsTopic = `products-${Date.now()}`
  const admin = new KafkaAdmin({ brokers: brokers() })
  await admin.createTopic(productsTopic, { partitions: 2, configs: { 'cleanup.policy': 'compact' } })
  await admin.close()
  const orders = await freshTopic('orders', 1)
  const producer = new KafkaProducer({ brokers: brokers() })
  await producer.send([
    { topic: productsTopic, key: 'p1', value: JSON.stringify({ name: 'Book', category: 'books' }) },
    { topic: productsTopic, key: 'p2', value: JSON.stringify({ name: 'Lamp', category: 'home' }) },
    { topic: productsTopic, key: 'p2', value: null }, // deleted
    { topic: orders, key: 'o1', value: JSON.stringify({ order: 1, product: 'p1' }) },
    { topic: orders, key: 'o2', value: JSON.stringify({ order: 2, product: 'p2' }) },
  ])

  const seen: unknown[] = []
  const stop = new AbortController()
  const p = pipeline('table-join')
    .from(kafka({ topics: orders, brokers: brokers() }))
    .parse(z.object({ order: z.number(), product: z.string() }))
    .join(
      topicTable<{ name: string; category: string }>({ topic: productsTopic, brokers: brokers() }),
      (o) => o.product,
      (o, product) => ({ order: o.order, category: product?.category ?? null }),
      { how: 'left' },
    )
    .to(
      foreachBatch((batch) => {
        seen.push(...batch.rows)
        if (seen.length === 2) {
          // The catalogue changes, then a new order arrives: it must see the new category.
          void producer
            .send([
              { topic: productsTopic, key: 'p1', value: JSON.stringify({ name: 'Book', category: 'media' }) },
            ])
            .then(() => new Promise((resolve) => setTimeout(resolve, 1000)))
            .then(() =>
              producer.send([
                { topic: orders, key: 'o3', value: JSON.stringify({ order: 3, product: 'p1' }) },
              ]),
            )
        }
        if (seen.length >= 3) stop.abort()
      }),
    )
  await run(p, {
    checkpoint: join(dir, 'checkpoint'),
    trigger: { kind: 'processingTime', intervalMs: 300 },
    signal: AbortSignal.any([stop.signal, AbortSignal.timeout(60_000)]),
  })
  await producer.close()
  assert.deepEqual(seen, [
    { order: 1, category: 'books' },
    { order: 2, category: null },
    { order: 3, category: 'media' },
  ])
})
