/**
 * Documents the server refuses (a field name starting with "$" or holding a "."), the driver cannot encode (a
 * field name with a NUL) or that have no key are dead letters with the server's (or the driver's) message, in
 * the dead-letter collection beside the pipeline's own; the rest of each batch lands. With onError 'fail'
 * the pipeline stops and the positions stay before the batch.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, test } from 'node:test'
import { z } from 'zod'
import { MongoSinkError, mongodb } from '../../../src/connectors/mongodb/index.ts'
import { memorySource } from '../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { run } from '../../../src/runtime/run.ts'
import { positionsOf, tempDir, useFerretDb } from './util.ts'

const { server, db } = useFerretDb()

const AnyItem = z.record(z.string(), z.unknown())
type Item = z.infer<typeof AnyItem>

/** 30 good items, with bad ones at fixed places: the reason each gets is checked below. */
function items(): Item[] {
  const list: Item[] = Array.from({ length: 30 }, (_, id) => ({ id, name: `n${id}` }))
  list[4] = { id: 4, name: 'n4', $x: 1 }
  list[11] = { id: 11, name: 'n11', 'a.b': 1 }
  list[17] = { id: 17, name: 'n17', 'nul\u0000name': 1 }
  list[23] = { id: 23, name: 'n23', nested: { $set: 2 } }
  list[26] = { id: null, name: 'no key' }
  return list
}

describe('mongodb sink: documents the server refuses', () => {
  test("refused documents are dead letters with the server's message; the rest of each batch lands", async () => {
    const input = [...items().map((i) => JSON.stringify(i)), '{"id": 1000, "name": ']
    const p = pipeline('mongo-bad-rows')
      .from(memorySource('items', input))
      .parse(AnyItem)
      .to(mongodb<Item>({ url: server().url, database: server().database, collection: 'items', key: 'id' }))
    const summary = await run(p, {
      checkpoint: await tempDir(),
      trigger: { kind: 'availableNow' },
      maxBatchRecords: 8,
    })
    assert.equal(summary.inputRows, 31)
    const written = (await db().collection('items').find().toArray()).map((d) => d._id as unknown as number)
    const refusedIds = [4, 11, 17, 23, 26]
    assert.deepEqual(
      written.sort((a, b) => a - b),
      Array.from({ length: 30 }, (_, i) => i).filter((i) => !refusedIds.includes(i)),
    )
    const letters = await db()
      .collection('sluice_dead_letters')
      .find({ pipeline: 'mongo-bad-rows' })
      .toArray()
    const refused = letters
      .filter((l) => l.operator === `sink:mongodb ${server().database}.items`)
      .map((l) => [JSON.parse(l.raw as string).id, l.key, l.reason])
      .sort((a, b) => String(a[0]).localeCompare(String(b[0])))
    assert.deepEqual(refused, [
      [11, '11', 'invalid key: "a.b" (key must not contain \'.\' sign)'],
      [17, '17', 'the document cannot be encoded as BSON: key nul\\u0000name must not contain null bytes'],
      [23, '23', 'invalid key: "$set" (key must not start with \'$\' sign)'],
      // A "$" field first in a replacement reads as an update operator to the server.
      [
        4,
        '4',
        'Unknown modifier: $x. Expected a valid update modifier or pipeline-style update specified as an array',
      ],
      [null, null, 'the key field "id" is missing or null'],
    ])
    assert.ok(refused.length === 5 && letters.every((l) => l.batch >= 0))
    const parsed = letters.filter((l) => l.operator !== `sink:mongodb ${server().database}.items`)
    assert.deepEqual(
      parsed.map((l) => [l.partition, l.offset, l.raw]),
      [['memory', 30, '{"id": 1000, "name": ']],
      "the pipeline's own dead letter, with its source position and raw text",
    )
    assert.deepEqual((await positionsOf(db(), 'mongo-bad-rows')).positions, { memory: 31 })
  })

  test('a key too large for the server index is a dead letter with its message', async () => {
    // Random text: PostgreSQL compresses a repetitive one below its index limit.
    const big = randomBytes(6000).toString('base64')
    const rows = [
      { id: 'a', v: 1 },
      { id: big, v: 2 },
      { id: 'c', v: 3 },
    ]
    const p = pipeline('mongo-big-key')
      .from(
        memorySource(
          'rows',
          rows.map((r) => JSON.stringify(r)),
        ),
      )
      .parse(AnyItem)
      .to(mongodb<Item>({ url: server().url, database: server().database, collection: 'big', key: 'id' }))
    await run(p, { checkpoint: await tempDir(), trigger: { kind: 'availableNow' } })
    assert.deepEqual((await db().collection('big').find().toArray()).map((d) => d._id).sort(), ['a', 'c'])
    const [letter] = await db()
      .collection('sluice_dead_letters')
      .find({ pipeline: 'mongo-big-key' })
      .toArray()
    assert.match(String(letter?.reason), /index row size \d+ exceeds btree version 4 maximum 2704/)
  })

  test("onError 'fail' stops at the first refused row; the positions stay before its batch", async () => {
    const p = pipeline('mongo-fail')
      .from(
        memorySource(
          'items',
          items().map((i) => JSON.stringify(i)),
        ),
      )
      .parse(AnyItem)
      .to(
        mongodb<Item>({
          url: server().url,
          database: server().database,
          collection: 'fail',
          key: 'id',
          onError: 'fail',
        }),
      )
    await assert.rejects(
      run(p, { checkpoint: await tempDir(), trigger: { kind: 'availableNow' }, maxBatchRecords: 3 }),
      (error: unknown) =>
        error instanceof MongoSinkError &&
        error.message.includes('row 1 of batch 1 (_id 4) cannot be written: Unknown modifier: $x.'),
    )
    assert.deepEqual(await positionsOf(db(), 'mongo-fail'), { batchId: 0, positions: { memory: 3 } })
  })
})
