import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { murmur2 as clientMurmur2, compatibilityPartitioner } from '@platformatic/kafka'
import { murmur2, murmur2Partitioner } from '../../src/connectors/kafka/murmur2.ts'
import { partitionForKey } from '../../src/connectors/kafka/partition-for-key.ts'

/**
 * The producer partitions keyed records with its own 32-bit murmur2 instead of the client's BigInt one (the
 * client's cost about 2 % of the etl pipeline's CPU): a key must still land where the client, and so a Java
 * producer, puts it, or a keyed pipeline's output and its scaled-out state would be split across partitions.
 */
describe('murmur2Partitioner: where a keyed record goes', () => {
  test("equals the client's compatibilityPartitioner on keys of every length and byte", () => {
    let seed = 0x2545f491
    const random = () => {
      seed ^= seed << 13
      seed ^= seed >>> 17
      seed ^= seed << 5
      return seed >>> 0
    }
    const keys = ['', 'a', 'ab', 'abc', 'abcd', 'u-000001', 'ünïcødé-key', '21', 'ab\u0000cd'].map((k) =>
      Buffer.from(k),
    )
    for (let i = 0; i < 5000; i++) {
      const key = Buffer.alloc(random() % 70)
      for (let j = 0; j < key.length; j++) key[j] = random() & 0xff
      keys.push(key)
    }
    for (const key of keys) {
      const message = { topic: 't', key }
      const expected = compatibilityPartitioner(message, key)
      assert.equal(murmur2Partitioner(message, key), expected, key.toString('hex'))
      assert.equal(murmur2(key), clientMurmur2(key), key.toString('hex'))
      assert.equal(partitionForKey(key, 12), expected % 12)
    }
  })

  test('a keyless record goes to partition 0, as with the client', () => {
    assert.equal(murmur2Partitioner({ topic: 't' }, undefined), 0)
    assert.equal(compatibilityPartitioner({ topic: 't' }, undefined), 0)
  })
})
