/**
 * redis-server goes away for 30 s in the middle of a run and comes back with its data (SHUTDOWN SAVE, then
 * started again on the same port): the pipeline fails its batches meanwhile, restarts from the positions in
 * Redis once the server is back, and every row is in the stream exactly once.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { pino } from 'pino'
import { z } from 'zod'
import { redis } from '../../../src/connectors/redis/index.ts'
import { memorySource } from '../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { run } from '../../../src/runtime/run.ts'
import { tempDir, useRedis } from './util.ts'

const { server, client } = useRedis()

const Row = z.object({ id: z.number(), user: z.string() })
type Row = z.infer<typeof Row>
const N = 40_000
const OUTAGE_MS = 30_000

describe('redis sink, server outage', () => {
  test(`the server away for ${OUTAGE_MS / 1000} s mid-run: retried, then every row once`, {
    timeout: 240_000,
  }, async () => {
    const input = Array.from({ length: N }, (_, id) => ({
      value: JSON.stringify({ id, user: `u${id % 97}` }),
      partition: `p${id % 4}`,
    }))
    const warnings: string[] = []
    let outage: Promise<void> | undefined
    const summary = await run(
      pipeline('redis-outage')
        .from(memorySource('rows', input))
        .parse(Row)
        .to(redis<Row>({ url: server().url, mode: 'stream', key: 'outage' })),
      {
        checkpoint: await tempDir(),
        trigger: { kind: 'availableNow' },
        maxBatchRecords: 200,
        retryTimeoutMs: 180_000,
        logger: pino({ level: 'warn' }, { write: (line: string) => warnings.push(line) }),
        onProgress: (progress) => {
          if (progress.batchId !== 60 || outage) return
          outage = (async () => {
            await server().shutdown()
            await new Promise((r) => setTimeout(r, OUTAGE_MS))
            await server().start()
          })()
        },
      },
    )
    await outage
    assert.ok(warnings.length > 0, 'the run met the outage and restarted')
    assert.equal(summary.inputRows > 0, true)
    const entries = (await client().xRange('outage', '-', '+')) ?? []
    const ids = entries.map((e) => Number(e.message.id)).sort((a, b) => a - b)
    assert.equal(ids.length, N, 'no row lost or written twice')
    assert.deepEqual(
      ids,
      Array.from({ length: N }, (_, i) => i),
    )
    const positions = await client().hGetAll('sluice:positions:redis-outage')
    assert.deepEqual(
      { p0: positions.p0, p1: positions.p1, p2: positions.p2, p3: positions.p3 },
      { p0: '10000', p1: '10000', p2: '10000', p3: '10000' },
    )
  })
})
