/**
 * The Redis sink's three write modes against a real redis-server: what each key holds afterwards, the TTL,
 * the positions hash (one field per partition), and a second run — with the checkpoint, and without it —
 * that writes nothing twice.
 */
import assert from 'node:assert/strict'
import { rm } from 'node:fs/promises'
import { describe, test } from 'node:test'
import { z } from 'zod'
import { redis } from '../../../src/connectors/redis/index.ts'
import { memorySource } from '../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { run } from '../../../src/runtime/run.ts'
import type { SinkSpec } from '../../../src/runtime/sink.ts'
import { keysOf, tempDir, useRedis } from './util.ts'

const { server, client } = useRedis()

const Page = z.object({ id: z.number(), page: z.string(), views: z.number(), ref: z.string().nullable() })
type Page = z.infer<typeof Page>

/** 60 rows over three partitions; every fifth without a referrer. */
function pages(n = 60): { value: string; partition: string }[] {
  return Array.from({ length: n }, (_, id) => ({
    value: JSON.stringify({ id, page: `/p/${id}`, views: id * 3, ref: id % 5 === 0 ? null : `r${id}` }),
    partition: `p${id % 3}`,
  }))
}

async function runInto(id: string, sink: SinkSpec<Page>, checkpoint: string, n = 60) {
  const p = pipeline(id)
    .from(memorySource('pages', pages(n)))
    .parse(Page)
    .to(sink)
  return run(p, { checkpoint, trigger: { kind: 'availableNow' }, maxBatchRecords: 7 })
}

describe('redis sink', () => {
  test("mode 'set': each row's JSON under its key, with the TTL; a rerun writes nothing again", async () => {
    const sink = redis<Page>({ url: server().url, mode: 'set', key: 'page:{id}', ttl: '1h' })
    const checkpoint = await tempDir()
    const summary = await runInto('redis-set', sink, checkpoint)
    assert.equal(summary.outputRows, 60)
    const keys = await keysOf(client(), 'page:*')
    assert.equal(keys.length, 60)
    for (let id = 0; id < 60; id += 11) {
      const row = JSON.parse((await client().get(`page:${id}`)) ?? 'null') as Page
      assert.deepEqual(row, { id, page: `/p/${id}`, views: id * 3, ref: id % 5 === 0 ? null : `r${id}` })
      const ttl = await client().pTTL(`page:${id}`)
      assert.ok(ttl > 3_500_000 && ttl <= 3_600_000, `TTL of page:${id} is ${ttl} ms`)
    }
    const positions = await client().hGetAll('sluice:positions:redis-set')
    assert.deepEqual(positions, { '@batch': positions['@batch'], p0: '20', p1: '20', p2: '20' })
    await client().del('page:3')
    const again = await runInto('redis-set', sink, checkpoint)
    assert.equal(again.outputRows, 0)
    assert.equal(await client().exists('page:3'), 0, 'the rerun wrote nothing')
  })

  test("mode 'set' with value: the field's text is the value", async () => {
    const sink = redis<Page>({ url: server().url, mode: 'set', key: 'views:{page}', value: 'views' })
    await runInto('redis-set-value', sink, await tempDir())
    assert.equal(await client().get('views:/p/7'), '21')
    assert.equal(await client().pTTL('views:/p/7'), -1, 'no TTL unless asked for')
  })

  test("mode 'hash': the row's fields, a null field taken out, with the TTL", async () => {
    await client().hSet('hpage:5', { ref: 'stale', old: 'kept' })
    const sink = redis<Page>({ url: server().url, mode: 'hash', key: 'hpage:{id}', ttl: 90_000 })
    await runInto('redis-hash', sink, await tempDir())
    assert.equal((await keysOf(client(), 'hpage:*')).length, 60)
    assert.deepEqual(await client().hGetAll('hpage:7'), { id: '7', page: '/p/7', views: '21', ref: 'r7' })
    // ref is null in row 5: the stale value is gone; a field the row does not name stays.
    assert.deepEqual(await client().hGetAll('hpage:5'), { id: '5', page: '/p/5', views: '15', old: 'kept' })
    const ttl = await client().pTTL('hpage:7')
    assert.ok(ttl > 80_000 && ttl <= 90_000, `TTL ${ttl} ms`)
  })

  test("mode 'stream': one entry per row, in order per partition; a run without its checkpoint resumes from the positions", async () => {
    const sink = redis<Page>({ url: server().url, mode: 'stream', key: 'pages' })
    const checkpoint = await tempDir()
    await runInto('redis-stream', sink, checkpoint, 40)
    let entries = (await client().xRange('pages', '-', '+')) ?? []
    assert.equal(entries.length, 40)
    assert.deepEqual(entries[4]!.message, { id: '4', page: '/p/4', views: '12', ref: 'r4' })
    assert.deepEqual(entries[5]!.message, { id: '5', page: '/p/5', views: '15' }, 'a null field is left out')
    // The checkpoint is lost: the sink's positions say where the stream's entries end.
    await rm(checkpoint, { recursive: true, force: true })
    const rest = await runInto('redis-stream', sink, checkpoint, 60)
    assert.equal(rest.outputRows, 20)
    entries = (await client().xRange('pages', '-', '+')) ?? []
    const ids = entries.map((e) => Number(e.message.id)).sort((a, b) => a - b)
    assert.deepEqual(
      ids,
      Array.from({ length: 60 }, (_, i) => i),
      'every row once',
    )
  })
})
