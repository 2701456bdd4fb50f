import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setImmediate as turn } from 'node:timers/promises'
import { KafkaChangelogStore } from '../../src/connectors/kafka/changelog-store.ts'
import { KafkaProducer } from '../../src/connectors/kafka/producer.ts'
import { brokers, freshTopic } from '../helpers/kafka.ts'

/**
 * Restoring keyed state reads the changelog in polls of 10,000 records. A fetch brings many more of the
 * changelog's small records than that, and the polls that read them from the client's buffer resolve at once:
 * without a turn of the event loop between polls, restoring 1,000,000 keys held the loop for 8.4 s
 * (bench/micro/restore.ts), and heartbeats, which go out from timers, stopped for as long, close to the
 * group's 10 s session timeout (past it on a loaded machine: the instance loses its partitions mid-restore).
 * The restore now turns the loop before each poll and fetches 2 MB at a time (parsing a 16 MB fetch of
 * small records took over a second on its own).
 */
test('restoring from a changelog topic lets the event loop turn between polls', {
  timeout: 120_000,
}, async () => {
  const topic = await freshTopic('restore-turns', 1)
  const RECORDS = 30_000 // three polls; about 0.8 MB, within one fetch of the partition
  const producer = new KafkaProducer({ brokers: brokers() })
  try {
    for (let from = 0; from < RECORDS; from += 5_000)
      await producer.send(
        Array.from({ length: 5_000 }, (_, i) => ({
          topic,
          partition: 0,
          key: `k${from + i}`,
          value: '{"t":null,"v":"1"}',
        })),
      )
  } finally {
    await producer.close()
  }

  let turns = 0
  let counting = true
  void (async () => {
    while (counting) {
      await turn()
      turns++
    }
  })()
  const turnsSeen = new Set<number>()
  let applied = 0
  try {
    await new KafkaChangelogStore({ brokers: brokers() }).read([topic], [0], () => {
      applied++
      turnsSeen.add(turns)
    })
  } finally {
    counting = false
  }
  assert.equal(applied, RECORDS)
  // One poll's records apply within one turn; three polls need at least three.
  assert.ok(
    turnsSeen.size >= 3,
    `the restore applied ${RECORDS} records in ${turnsSeen.size} turn(s) of the event loop`,
  )
})
