import assert from 'node:assert/strict'
import { test } from 'node:test'
import { dropAbortedTransactions, type FetchResponseLike } from '../../src/connectors/kafka/read-committed.ts'

const TRANSACTIONAL = 1 << 4
const CONTROL = 1 << 5

function data(offset: number, producerId: number, records = 1, attributes = TRANSACTIONAL) {
  return {
    firstOffset: BigInt(offset),
    lastOffsetDelta: records - 1,
    producerId: BigInt(producerId),
    attributes,
    records: Array.from({ length: records }, (_, i) => ({ key: Buffer.from(`${producerId}@${offset + i}`) })),
  }
}

function marker(offset: number, producerId: number, type: 'abort' | 'commit') {
  const key = Buffer.alloc(4)
  key.writeInt16BE(type === 'abort' ? 0 : 1, 2)
  return {
    firstOffset: BigInt(offset),
    lastOffsetDelta: 0,
    producerId: BigInt(producerId),
    attributes: TRANSACTIONAL | CONTROL,
    records: [{ key }],
  }
}

function fetched(batches: ReturnType<typeof data>[], aborted: [producerId: number, firstOffset: number][]) {
  const partition = {
    abortedTransactions: aborted.map(([p, o]) => ({ producerId: BigInt(p), firstOffset: BigInt(o) })),
    records: batches,
  }
  const response: FetchResponseLike = { responses: [{ partitions: [partition] }] }
  dropAbortedTransactions(response)
  return {
    kept: batches
      .filter((b) => !(b.attributes & CONTROL))
      .flatMap((b) => b.records.map((r) => String(r.key))),
    listed: partition.abortedTransactions.length,
  }
}

test('two aborted transactions of one producer, a committed one between them: only the aborted are dropped', () => {
  const { kept, listed } = fetched(
    [
      data(0, 7),
      marker(1, 7, 'commit'),
      data(2, 7, 2),
      marker(4, 7, 'abort'),
      data(5, 7),
      marker(6, 7, 'commit'),
      data(7, 7),
      marker(8, 7, 'abort'),
      data(9, 7),
      marker(10, 7, 'commit'),
    ],
    [
      [7, 2],
      [7, 7],
    ],
  )
  assert.deepEqual(kept, ['7@0', '7@5', '7@9'])
  assert.equal(listed, 0, 'nothing left for the client to filter again')
})

test('an aborted transaction whose marker is beyond the response is dropped, batches left empty in place', () => {
  const batches = [data(0, 3, 5), data(5, 3, 5)]
  assert.deepEqual(fetched(batches, [[3, 0]]).kept, [])
  assert.equal(batches.length, 2, 'the batches stay: the consumer advances its position past the last one')
})

test('an aborted transaction that began before the fetch offset applies from the first batch', () => {
  assert.deepEqual(fetched([data(40, 3, 2), marker(42, 3, 'abort'), data(43, 3)], [[3, 10]]).kept, ['3@43'])
})

test("other producers' batches and the same producer's non-transactional batches are kept", () => {
  const { kept } = fetched(
    [data(0, 3), data(1, 4), data(2, 3, 1, 0), marker(3, 3, 'abort'), marker(4, 4, 'commit')],
    [[3, 0]],
  )
  assert.deepEqual(kept, ['4@1', '3@2'])
})

test('a listed aborted transaction applies only from its first offset', () => {
  assert.deepEqual(
    fetched([data(0, 3), marker(1, 3, 'commit'), data(2, 3), marker(3, 3, 'abort')], [[3, 2]]).kept,
    ['3@0'],
  )
})
