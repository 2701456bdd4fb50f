import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Consumer } from '@platformatic/kafka'
import { hookApi } from '../../src/connectors/kafka/api-hook.ts'
import { KafkaProducer } from '../../src/connectors/kafka/producer.ts'
import { dropStaleFetches } from '../../src/connectors/kafka/stale-fetches.ts'
import { brokers, freshTopic, uniqueGroup } from '../helpers/kafka.ts'
import { waitFor } from '../helpers/wait.ts'

/**
 * Found by the lake scale-out zombie test (about 1 run in 5 lost inputs): a member woken after its session
 * timeout had a fetch in flight from where it had read a partition to; the partition had meanwhile gone to
 * another member and come back, and the stream re-positioned it at the group's committed offset. Then the
 * old fetch's response arrived, the client applied it, and the stream went on from past it: the records
 * between the committed offset and the old position were handed to no one. The test moves the position the
 * same way (as a re-assignment does) while a fetch is in flight, and checks that reading goes on from the new
 * position, not from the answer to the old one.
 */
test('a fetch answered after its partition was re-positioned is dropped; reading goes on from the new position', {
  timeout: 60_000,
}, async () => {
  const topic = await freshTopic('stale-fetch', 1)
  const RECORDS = 3_000
  const producer = new KafkaProducer({ brokers: brokers() })
  try {
    for (let from = 0; from < RECORDS; from += 500)
      await producer.send(
        Array.from({ length: 500 }, (_, i) => ({
          topic,
          partition: 0,
          key: `k${from + i}`,
          value: `${from + i}`,
        })),
      )
  } finally {
    await producer.close()
  }

  const consumer = new Consumer({
    clientId: 'stale-fetch-test',
    bootstrapBrokers: [brokers()],
    groupId: uniqueGroup('stale-fetch'),
    autocommit: false,
    maxBytesPerPartition: 8 * 1024, // a few hundred records per fetch
    maxWaitTime: 100,
  })
  const key = `${topic}:0`
  let stream: Awaited<ReturnType<typeof consumer.consume>> | undefined
  dropStaleFetches(consumer, () => stream?.offsetsToFetch)
  // The third answer with records: before the client sees it, the partition is re-positioned at offset 0, as
  // a revocation and re-assignment at a committed offset of 0 would.
  let answers = 0
  let moved: number | undefined
  const delivered: number[] = []
  hookApi(consumer, 'Fetch', (fetch) => (...args: unknown[]) => {
    const done = args.pop() as (error: Error | null, response?: unknown) => void
    fetch(
      ...args,
      (error: Error | null, response?: { responses: { partitions: { records?: unknown[] }[] }[] }) => {
        const hasRecords = response?.responses.some((t) =>
          t.partitions.some((p) => (p.records?.length ?? 0) > 0),
        )
        if (hasRecords && ++answers === 3 && stream) {
          stream.offsetsToFetch.set(key, 0n)
          moved = delivered.length
        }
        done(error, response)
      },
    )
  })
  try {
    stream = await consumer.consume({ topics: [topic], mode: 'earliest' })
    stream.on('data', (message: { offset: bigint }) => delivered.push(Number(message.offset)))
    await waitFor(
      () => moved !== undefined && delivered.slice(moved).includes(RECORDS - 1),
      30_000,
      'the last record read after the move',
    )
    const after = delivered.slice(moved)
    assert.equal(after[0], 0, `after the move to offset 0, reading went on at offset ${after[0]}`)
    assert.deepEqual(
      after.slice(0, RECORDS),
      Array.from({ length: RECORDS }, (_, i) => i),
    )
  } finally {
    await stream?.close()
    await consumer.close(true)
  }
})
