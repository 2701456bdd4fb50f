import assert from 'node:assert/strict'
import { test } from 'node:test'
import { KafkaAdmin } from '../../src/connectors/kafka/admin.ts'
import { KafkaChangelogStore } from '../../src/connectors/kafka/changelog-store.ts'
import { KafkaProducer } from '../../src/connectors/kafka/producer.ts'
import { brokers, freshTopic, uniqueGroup } from '../helpers/kafka.ts'

/**
 * A task taken over from an instance that was SIGKILLed inside a batch finds that instance's transaction open
 * on its changelog partitions, Ongoing until the transaction times out. Restoring used to wait its whole
 * 5 s for such a partition to settle (no transaction open or completing), after the 10 s session timeout
 * that moved the partition. An Ongoing transaction there can only abort: the end of the committed writes is
 * where it starts, and the restore may read up to there at once. One being completed is still waited for
 * (test/engine/restore-settled.test.ts).
 */
test("a changelog partition with a dead owner's Ongoing transaction settles at once, at that transaction's start", {
  timeout: 60_000,
}, async () => {
  const topic = await freshTopic('settle-ongoing', 1)
  const producer = new KafkaProducer({ brokers: brokers(), transactionalId: uniqueGroup('settle-dead') })
  const reads = { stable: 0 }
  const offsets = Object.getOwnPropertyDescriptor(KafkaAdmin.prototype, 'offsets')!
  try {
    const committed = await producer.beginTransaction()
    await committed.send(
      [0, 1, 2].map((i) => ({ topic, partition: 0, key: `k${i}`, value: '{"t":null,"v":"1"}' })),
    )
    await committed.commit()
    // The owner's next batch, open when it died: records written, never committed.
    const open = await producer.beginTransaction()
    await open.send([{ topic, partition: 0, key: 'k3', value: '{"t":null,"v":"2"}' }])

    const original = offsets.value as KafkaAdmin['offsets']
    KafkaAdmin.prototype.offsets = function (this: KafkaAdmin, ...args: Parameters<KafkaAdmin['offsets']>) {
      if (args[0] === topic && (args[2] ?? true)) reads.stable++
      return original.apply(this, args)
    }
    const ends = await new KafkaChangelogStore({ brokers: brokers() }).endOffsets([topic], [0], {
      settled: true,
    })
    // Three records and the commit's marker: the open transaction starts at offset 4.
    assert.equal(ends.get(`${topic}:0`), 4)
    assert.equal(
      reads.stable,
      1,
      'settled on its first look, without waiting for the transaction to time out',
    )
  } finally {
    Object.defineProperty(KafkaAdmin.prototype, 'offsets', offsets)
    await producer.close()
  }
})
