import assert from 'node:assert/strict'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { after, before, describe, test } from 'node:test'
import { Admin, findErrorBy } from '@platformatic/kafka'
import { KafkaAdmin } from '../../src/connectors/kafka/admin.ts'
import { KafkaConsumer } from '../../src/connectors/kafka/consumer.ts'
import { KafkaProducer } from '../../src/connectors/kafka/producer.ts'
import type { ConsumedRecord } from '../../src/connectors/kafka/records.ts'
import { requireStableOffsets } from '../../src/connectors/kafka/stable-offsets.ts'
import type { KafkaTransaction } from '../../src/connectors/kafka/transaction.ts'
import { describeError } from '../../src/errors.ts'
import { brokers, freshTopic, uniqueGroup } from '../helpers/kafka.ts'
import { waitFor } from '../helpers/wait.ts'

const OFFSET_FETCH = 9

/**
 * Every OffsetFetch the broker answered UNSTABLE_OFFSET_COMMIT in this process: proof that a reader of the
 * group's offsets asked while the transaction was open (and was told to wait), seen on the client's own
 * diagnostics channel for protocol calls.
 */
let unstableAnswers = 0
const FAILED_CALLS = 'tracing:plt:kafka:connections:api:error'
function countUnstable(message: unknown): void {
  const call = message as { apiKey?: number; error?: Error }
  if (
    call.apiKey === OFFSET_FETCH &&
    call.error &&
    findErrorBy(call.error, 'apiId', 'UNSTABLE_OFFSET_COMMIT')
  )
    unstableAnswers++
}

async function readAtLeast(consumer: KafkaConsumer, n: number): Promise<ConsumedRecord[]> {
  const seen: ConsumedRecord[] = []
  const signal = AbortSignal.timeout(20_000)
  for await (const batch of consumer.batches({ maxRecords: 500, lingerMs: 20, idleMs: 200, signal })) {
    seen.push(...batch)
    if (seen.length >= n) break
  }
  return seen
}

/**
 * Ten records on a one-partition topic; group `groupId` committed offset 3, and an open transaction has
 * committed offset 7 for it, as a pipeline instance that owned the partition until a rebalance would, still
 * committing its last batch. That member has left the group; the transaction is left open for the caller.
 */
async function offsetsPendingInTransaction(prefix: string) {
  const topic = await freshTopic(prefix)
  const groupId = uniqueGroup(prefix)
  const producer = new KafkaProducer({ brokers: brokers(), transactionalId: uniqueGroup(`${prefix}-tx`) })
  await producer.send(Array.from({ length: 10 }, (_, i) => ({ topic, value: `v${i}` })))
  const owner = new KafkaConsumer({ brokers: brokers(), groupId, topics: [topic] })
  let tx: KafkaTransaction
  try {
    const seen = await readAtLeast(owner, 10)
    await owner.commit(seen.slice(0, 3))
    tx = await producer.beginTransaction()
    await tx.commitOffsets(owner, seen.slice(0, 7))
  } finally {
    await owner.close()
  }
  return { topic, groupId, producer, tx }
}

/** Reads `consumer` in the background, keeping every delivered offset, until `stop` aborts. */
function collect(consumer: KafkaConsumer, stop: AbortSignal): { offsets: bigint[]; done: Promise<void> } {
  const offsets: bigint[] = []
  const done = (async () => {
    for await (const batch of consumer.batches({ maxRecords: 500, lingerMs: 10, idleMs: 50, signal: stop })) {
      offsets.push(...batch.map((r) => r.offset))
    }
  })()
  return { offsets, done }
}

describe('committed offsets are read stable (KIP-447) against a real broker', () => {
  before(() => subscribe(FAILED_CALLS, countUnstable))
  after(() => unsubscribe(FAILED_CALLS, countUnstable))

  for (const [end, from] of [
    ['commits', 7n],
    ['aborts', 3n],
  ] as const) {
    test(`a member taking over a partition waits for the open transaction holding its offsets, then starts at ${from} when it ${end}`, async () => {
      const { topic, groupId, producer, tx } = await offsetsPendingInTransaction(`stable-${end}`)
      const taker = new KafkaConsumer({ brokers: brokers(), groupId, topics: [topic] })
      const stop = new AbortController()
      const { offsets, done } = collect(taker, stop.signal)
      try {
        const unstableBefore = unstableAnswers
        await waitFor(
          () => offsets.length > 0 || unstableAnswers > unstableBefore,
          30_000,
          'the new member to read the group offsets',
        )
        assert.deepEqual(
          offsets,
          [],
          'nothing may be delivered from the old offset while the transaction is open',
        )
        await (end === 'commits' ? tx.commit() : tx.abort())
        await waitFor(() => offsets.at(-1) === 9n, 30_000, 'the records after the settled offset')
        assert.deepEqual(
          offsets,
          Array.from({ length: 10 - Number(from) }, (_, i) => from + BigInt(i)),
        )
      } finally {
        stop.abort()
        await done
        await taker.close()
        await tx.abort()
        await producer.close()
      }
    })
  }

  test("recovery's read of the committed offsets and batch metadata waits for the open transaction", async () => {
    const { topic, groupId, producer, tx } = await offsetsPendingInTransaction('stable-admin')
    const admin = new KafkaAdmin({ brokers: brokers() })
    try {
      const unstableBefore = unstableAnswers
      let settled = false
      const reading = admin.committedOffsetsAndMetadata(groupId, topic).finally(() => {
        settled = true
      })
      reading.catch(() => {}) // awaited below; a rejection before then is not unhandled
      await waitFor(
        () => settled || unstableAnswers > unstableBefore,
        30_000,
        'the admin to read the offsets',
      )
      // Unhooked, the admin asks at most 9 times (3 attempts of 3 tries, its retries: 2) in ~2 s, then gives up
      // with "Kafka did not answer": the read must outlast that.
      await waitFor(
        () => settled || unstableAnswers > unstableBefore + 12,
        30_000,
        'the admin to keep asking',
      )
      assert.equal(settled, false, 'the read must wait while the transaction is open')
      await tx.commit()
      assert.equal((await reading).get(0)?.offset, 7n)
    } finally {
      await admin.close()
      await tx.abort()
      await producer.close()
    }
  })

  test('a transaction that stays open fails the read after the wait, naming the group and partition', async () => {
    const { topic, groupId, producer, tx } = await offsetsPendingInTransaction('stable-hung')
    const admin = new Admin({ clientId: 'stable-hung', bootstrapBrokers: [brokers()], retries: 2 })
    requireStableOffsets(admin, 300)
    try {
      const error = await admin
        // The hook asks for stable offsets even when the caller does not.
        .listConsumerGroupOffsets({
          groups: [{ groupId, topics: [{ name: topic, partitionIndexes: [0] }] }],
          requireStable: false,
        })
        .then(
          () => assert.fail('the read must not succeed while the transaction is open'),
          (e: unknown) => e,
        )
      const message = describeError(error)
      assert.match(message, new RegExp(`group "${groupId}" \\(${topic}:0\\)`))
      assert.match(message, /UNSTABLE_OFFSET_COMMIT/)
      assert.match(message, /open transaction/)
    } finally {
      await admin.close()
      await tx.abort()
      await producer.close()
    }
  })
})
