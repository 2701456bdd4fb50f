/**
 * Rows Redis refuses for their key (WRONGTYPE: the key holds another type) are dead letters with the
 * server's message, beside the pipeline's own dead letters, in the dead-letter stream; the rest of the batch
 * commits. A command that fails inside EXEC all the same fails the batch, and the positions do not move
 * past it.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { z } from 'zod'
import { RedisError, redis } from '../../../src/connectors/redis/index.ts'
import { memorySource } from '../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { run } from '../../../src/runtime/run.ts'
import { keysOf, tempDir, useRedis } from './util.ts'

const { server, client } = useRedis()

const Item = z.object({ id: z.number(), name: z.string() })
type Item = z.infer<typeof Item>

const items = (n: number) => Array.from({ length: n }, (_, id) => JSON.stringify({ id, name: `n${id}` }))
const WRONGTYPE = 'WRONGTYPE Operation against a key holding the wrong kind of value'

describe('redis sink: rows the server refuses', () => {
  test("WRONGTYPE rows are dead letters with the server's message; the rest of each batch commits", async () => {
    await client().lPush('item:10', 'a list')
    await client().hSet('item:20', { a: 'a hash' })
    await client().xAdd('item:30', '*', { a: 'a stream' })
    const input = [...items(50), '{"id": 1000, "name": ', '{"id": "nope"}']
    const p = pipeline('redis-bad-rows')
      .from(memorySource('items', input))
      .parse(Item)
      .to(redis<Item>({ url: server().url, mode: 'set', key: 'item:{id}' }))
    const summary = await run(p, {
      checkpoint: await tempDir(),
      trigger: { kind: 'availableNow' },
      maxBatchRecords: 15,
    })
    assert.equal(summary.inputRows, 52)
    const written = (await keysOf(client(), 'item:*')).filter(
      (k) => k !== 'item:10' && k !== 'item:20' && k !== 'item:30',
    )
    assert.equal(written.length, 47)
    assert.equal(await client().type('item:10'), 'list', 'the key of another type is left alone')

    const letters = ((await client().xRange('sluice:dead-letters', '-', '+')) ?? []).map((e) => e.message)
    const refused = letters.filter((l) => l.operator === 'sink:redis item:{id}')
    assert.deepEqual(
      refused.map((l) => [l.key, l.reason, JSON.parse(l.raw ?? 'null')]),
      [10, 20, 30].map((id) => [`item:${id}`, WRONGTYPE, { id, name: `n${id}` }]),
    )
    assert.ok(
      refused.every((l) => l.pipeline === 'redis-bad-rows' && l.partition === '' && l.offset === '-1'),
    )
    const parsed = letters.filter((l) => l.operator !== 'sink:redis item:{id}')
    assert.deepEqual(
      parsed.map((l) => [l.partition, l.offset, l.raw]),
      [
        ['memory', '50', '{"id": 1000, "name": '],
        ['memory', '51', '{"id": "nope"}'],
      ],
      "the pipeline's own dead letters, with their source position and raw text",
    )
    assert.equal(await client().hGet('sluice:positions:redis-bad-rows', 'memory'), '52')
  })

  test("onError 'fail' stops at the first refused row, nothing of its batch written", async () => {
    await client().lPush('fail:7', 'a list')
    const p = pipeline('redis-fail')
      .from(memorySource('items', items(20)))
      .parse(Item)
      .to(redis<Item>({ url: server().url, mode: 'hash', key: 'fail:{id}', onError: 'fail' }))
    await assert.rejects(
      run(p, { checkpoint: await tempDir(), trigger: { kind: 'availableNow' }, maxBatchRecords: 5 }),
      (error: unknown) =>
        error instanceof RedisError &&
        error.message.includes('row 2 of batch 1 (key "fail:7")') &&
        error.message.includes(WRONGTYPE),
    )
    assert.deepEqual(await keysOf(client(), 'fail:*'), [
      'fail:0',
      'fail:1',
      'fail:2',
      'fail:3',
      'fail:4',
      'fail:7',
    ])
    assert.equal(await client().hGet('sluice:positions:redis-fail', 'memory'), '5')
  })

  test('a command that fails inside EXEC fails the batch; the positions stay before it', async () => {
    // A stream at the last possible id: XADD * fails when EXEC runs it (no read can tell beforehand).
    await client().sendCommand(['XADD', 'full:3', '18446744073709551615-18446744073709551615', 'f', 'v'])
    const p = pipeline('redis-exec-error')
      .from(memorySource('items', items(20)))
      .parse(Item)
      .to(redis<Item>({ url: server().url, mode: 'stream', key: 'full:{id}' }))
    await assert.rejects(
      run(p, {
        checkpoint: await tempDir(),
        trigger: { kind: 'availableNow' },
        maxBatchRecords: 5,
        retryTimeoutMs: 1500,
      }),
      (error: unknown) =>
        error instanceof Error &&
        /batch 0's transaction failed, the first with "ERR The stream has exhausted the last possible ID/.test(
          error.message,
        ),
    )
    // Batch 0 (rows 0-4) held the failing entry: nothing is committed, whatever the rest of it wrote.
    assert.deepEqual(await client().hGetAll('sluice:positions:redis-exec-error'), {})
  })
})
