import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { z } from 'zod'
import { mysql } from '../../../src/connectors/mysql/index.ts'
import { memorySource } from '../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { SluiceError } from '../../../src/errors.ts'
import { run } from '../../../src/runtime/run.ts'
import type { SinkSpec } from '../../../src/runtime/sink.ts'
import type { SourceSpec } from '../../../src/runtime/source.ts'
import { withoutPosition } from '../sql/without-position.ts'
import { json, useMariaDb, utc } from './util.ts'

const db = useMariaDb()

const Event = z.object({
  id: z.number().int(),
  user: z.string(),
  amount: z.number(),
  at: z.iso.datetime(),
  tags: z.array(z.string()),
  vip: z.boolean(),
})
type Event = z.infer<typeof Event>

const T0 = Date.parse('2026-03-02T09:00:00Z')
function event(i: number): Event {
  return {
    id: i,
    user: `u-${String(i % 37).padStart(4, '0')}`,
    amount: Math.round(i * 1.37 * 100) / 100 + 0.01,
    at: new Date(T0 + i * 1234).toISOString(),
    tags: i % 3 === 0 ? ['a', 'b'] : [],
    vip: i % 5 === 0,
  }
}

/** 3000 records over three partitions; every 97th is broken JSON (a parse dead letter). */
const N = 3000
const input = Array.from({ length: N }, (_, i) => ({
  value: i % 97 === 13 ? `{"id":${i},"user":` : JSON.stringify(event(i)),
  partition: `p${i % 3}`,
}))
const goodIds = Array.from({ length: N }, (_, i) => i).filter((i) => i % 97 !== 13)
const brokenIds = Array.from({ length: N }, (_, i) => i).filter((i) => i % 97 === 13)

function events(
  url: string,
  source: SourceSpec<unknown> = memorySource('events', input),
  wrap: (sink: SinkSpec<Event>) => SinkSpec<Event> = (sink) => sink,
) {
  return pipeline('mysql-append')
    .from(source)
    .parse(Event)
    .to(wrap(mysql<Event>({ url, table: 'events', createTable: true, key: ['id'] })))
}

describe('mysql sink, append', () => {
  test('every parsed row lands exactly once, dead letters beside them, offsets in the database', async () => {
    const checkpoint = await db.checkpoint()
    const summary = await run(events(db.server.url), {
      checkpoint,
      trigger: { kind: 'availableNow' },
      maxBatchRecords: 250,
    })
    assert.ok(summary.batches >= 12, `ran ${summary.batches} batches`)
    const rows = await db.query<{
      id: number
      user: string
      amount: number
      at: string
      tags: unknown
      vip: number
    }>('SELECT * FROM events ORDER BY id')
    assert.deepEqual(
      rows.map((r) => r.id),
      goodIds,
    )
    for (const r of rows) {
      const e = event(r.id)
      assert.equal(r.user, e.user)
      assert.equal(r.amount, e.amount)
      assert.equal(utc(r.at), Date.parse(e.at)) // DATETIME(3) in UTC
      assert.deepEqual(json(r.tags), e.tags)
      assert.equal(r.vip, e.vip ? 1 : 0)
    }
    const columns = await db.query<{ COLUMN_NAME: string; COLUMN_TYPE: string }>(
      "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'events' ORDER BY ORDINAL_POSITION",
    )
    assert.deepEqual(
      columns.map((c) => `${c.COLUMN_NAME} ${c.COLUMN_TYPE}`),
      [
        'id bigint(20)',
        'user longtext',
        'amount double',
        'at datetime(3)',
        'tags longtext',
        'vip tinyint(1)',
      ],
    )

    const letters = await db.query<{
      operator: string
      reason: string
      source_partition: string
      source_offset: number
      raw: Buffer
      batch_id: number
    }>(
      "SELECT * FROM sluice_dead_letters WHERE pipeline_id = 'mysql-append' ORDER BY source_offset, source_partition",
    )
    assert.equal(letters.length, brokenIds.length)
    for (const l of letters) {
      assert.equal(l.operator, 'parse')
      assert.match(l.raw.toString(), /^\{"id":\d+,"user":$/)
      const id = Number(/\d+/.exec(l.raw.toString())?.[0])
      assert.equal(l.source_partition, `p${id % 3}`)
      assert.equal(l.source_offset, Math.floor(id / 3))
      assert.ok(l.reason.length > 0)
    }

    const [offsets] = await db.query<{ batch_id: number; positions: unknown }>(
      "SELECT batch_id, positions FROM sluice_offsets WHERE pipeline_id = 'mysql-append'",
    )
    assert.equal(offsets?.batch_id, summary.batches - 1)
    assert.deepEqual(json(offsets?.positions), { p0: 1000, p1: 1000, p2: 1000 })

    // Again with the same checkpoint: nothing left to do, nothing written twice.
    const again = await run(events(db.server.url), { checkpoint, trigger: { kind: 'availableNow' } })
    assert.equal(again.batches, 0)
    const [count] = await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM events')
    assert.equal(count?.n, goodIds.length)

    // A lost checkpoint: the run starts from the position the database holds, so there is nothing to do.
    const restart = await run(events(db.server.url), {
      checkpoint: await db.checkpoint(),
      trigger: { kind: 'availableNow' },
      maxBatchRecords: 400,
    })
    assert.equal(restart.inputRows, 0)
    // A runtime that does not ask replays from the start: every batch is input the database holds already.
    const replay = await run(events(db.server.url, memorySource('events', input), withoutPosition), {
      checkpoint: await db.checkpoint(),
      trigger: { kind: 'availableNow' },
      maxBatchRecords: 400,
    })
    assert.ok(replay.batches > 0)
    const [after] = await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM events')
    assert.equal(after?.n, goodIds.length)
    const [dead] = await db.query<{ n: number }>(
      "SELECT COUNT(*) AS n FROM sluice_dead_letters WHERE pipeline_id = 'mysql-append'",
    )
    assert.equal(dead?.n, brokenIds.length)
  })

  test('a replay from the start whose batches straddle what the database holds is refused with what to do', async () => {
    const p = (checkpoint: string, maxBatchRecords: number, maxBatches?: number) =>
      run(
        pipeline('mysql-straddle')
          .from(memorySource('events', input))
          .parse(Event)
          .to(withoutPosition(mysql({ url: db.server.url, table: 'straddle', createTable: true }))),
        {
          checkpoint,
          trigger: { kind: 'availableNow' },
          maxBatchRecords,
          ...(maxBatches ? { maxBatches } : {}),
        },
      )
    await p(await db.checkpoint(), 250, 5) // records 0 … 1249
    await assert.rejects(p(await db.checkpoint(), 300), (error: unknown) => {
      assert.ok(error instanceof SluiceError)
      assert.equal(error.code, 'SLUICE_MYSQL_OFFSETS')
      assert.equal(error.domain, 'user')
      assert.equal(error.retryable, false)
      assert.match(
        error.message,
        /batch 4 of pipeline "mysql-straddle" mixes input `[^`]+`\.`sluice_offsets` says is written \(p\d@\d+; the database is at batch 4, .*\) with input that is not: the checkpoint was reset .* delete the pipeline's row/,
      )
      return true
    })
    const [count] = await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM straddle')
    assert.equal(count?.n, goodIds.filter((id) => id < 1250).length)
  })

  test('the source is acknowledged after each commit, with the positions the offsets row holds', async () => {
    const inner = memorySource('ack', input.slice(0, 600))
    const acknowledged: Record<string, number>[] = []
    const spy: SourceSpec<unknown> = {
      ...inner,
      create: (context) => {
        const reader = inner.create(context)
        return Object.assign(reader, {
          async acknowledge(next: Record<string, number>) {
            const [row] = await db.query<{ positions: unknown }>(
              "SELECT positions FROM sluice_offsets WHERE pipeline_id = 'mysql-ack'",
            )
            assert.deepEqual(json(row?.positions), next, 'acknowledged after the commit, not before')
            acknowledged.push({ ...next })
          },
        })
      },
    }
    const p = pipeline('mysql-ack')
      .from(spy)
      .parse(Event)
      .to(mysql({ url: db.server.url, table: 'acked', createTable: true }))
    const summary = await run(p, {
      checkpoint: await db.checkpoint(),
      trigger: { kind: 'availableNow' },
      maxBatchRecords: 100,
    })
    assert.equal(acknowledged.length, summary.batches)
    assert.deepEqual(acknowledged.at(-1), { p0: 200, p1: 200, p2: 200 })
  })

  test('MYSQL_URL is the default url; without it the error says what to set', async () => {
    const saved = process.env.MYSQL_URL
    try {
      delete process.env.MYSQL_URL
      const p = pipeline('mysql-no-url')
        .from(memorySource('none', input.slice(0, 3)))
        .parse(Event)
        .to(mysql({ table: 'x' }))
      await assert.rejects(
        run(p, { checkpoint: await db.checkpoint(), trigger: { kind: 'once' } }),
        /MYSQL_URL is not set/,
      )
      process.env.MYSQL_URL = db.server.url
      const q = pipeline('mysql-env-url')
        .from(memorySource('env', input.slice(0, 30)))
        .parse(Event)
        .to(mysql({ table: 'from_env', createTable: true }))
      await run(q, { checkpoint: await db.checkpoint(), trigger: { kind: 'availableNow' } })
      const [count] = await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM from_env')
      assert.equal(count?.n, 29) // record 13 is broken JSON
    } finally {
      if (saved === undefined) delete process.env.MYSQL_URL
      else process.env.MYSQL_URL = saved
    }
  })
})
