/**
 * FerretDB goes away in the middle of a run (SIGTERM; its PostgreSQL keeps the data; batch 11 waits for it to be
 * down) and comes back on the same port once the pipeline has met the outage and retried twice: the run logs a warning per restart naming the sink and
 * the cause, goes on from the positions in the database, and every row is in the collection exactly once.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { type Document, MongoClient } from 'mongodb'
import { pino } from 'pino'
import { z } from 'zod'
import { type Write, writeInChunks } from '../../../src/connectors/mongodb/bulk.ts'
import { mongodb } from '../../../src/connectors/mongodb/index.ts'
import { memorySource } from '../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { run } from '../../../src/runtime/run.ts'
import type { SinkSpec, SinkWriter } from '../../../src/runtime/sink.ts'
import { waitFor } from '../../helpers/wait.ts'
import { positionsOf, tempDir, useFerretDb } from './util.ts'

const { server, db } = useFerretDb()

const Row = z.object({ id: z.number(), user: z.string() })
type Row = z.infer<typeof Row>
const N = 20_000
const PARTITIONS = 4
/** Restarts the run must log while the server is away before it comes back. */
const RESTARTS_WHILE_DOWN = 2

const row = (id: number): Row => ({ id, user: `u${(id * 7919) % 97}` })

/** The sink as it is, but the first commit of batch `batchId` waits for `until()` first. */
function heldAt<T>(batchId: number, until: () => Promise<void>, inner: SinkSpec<T>): SinkSpec<T> {
  let held = false
  return {
    ...inner,
    create(): SinkWriter<T> {
      const writer = inner.create()
      return {
        description: writer.description,
        open: (context) => writer.open(context),
        write: (batch) => writer.write(batch),
        async commit(batch, context) {
          if (batch.batchId === batchId && !held) {
            held = true
            await until()
          }
          await writer.commit(batch, context)
        },
        ...(writer.abort && { abort: (batch) => writer.abort!(batch) }),
        ...(writer.hasCommitted && { hasCommitted: (batch) => writer.hasCommitted!(batch) }),
        ...(writer.committedPosition && { committedPosition: () => writer.committedPosition!() }),
        ...(writer.rejected && { rejected: (batch) => writer.rejected!(batch) }),
        close: () => writer.close(),
      }
    },
  }
}

describe('mongodb sink, server outage (FerretDB)', () => {
  test('a write the server never got is no refusal: it fails whole, nothing is put aside as a bad row', async () => {
    const client = new MongoClient(server().url, { retryWrites: false, serverSelectionTimeoutMS: 5_000 })
    await client.connect()
    const collection = client.db(server().database).collection('unreached')
    const writes = (n: number): Write[] =>
      Array.from({ length: n }, (_, index) => {
        const document: Document = { _id: `unreached:0:${index}`, index }
        return { index, document, operation: { insertOne: { document } } }
      })
    await server().shutdown()
    try {
      // The driver wraps the lost connection in the bulk write's error: before, it read as the server
      // refusing the writes, and a chunk of one write came back as a bad row (a dead letter). Which error the
      // driver sees depends on timing: a refused connection, or (at load 10, FerretDB still closing) "This
      // socket has been ended by the other party".
      for (const n of [1, 3])
        await assert.rejects(
          writeInChunks(collection, writes(n), { chunk: 500, maxDocumentBytes: 16 * 1024 * 1024 }),
          /ECONNREFUSED|connection|closed|socket/i,
          `${n} write(s) to a server that is down`,
        )
    } finally {
      await server().start()
      await client.close()
    }
  })

  test('FerretDB away mid-run until the run retried twice: a warning per restart, then every row once', {
    timeout: 150_000,
  }, async (t) => {
    const input = Array.from({ length: N }, (_, id) => ({
      value: JSON.stringify(row(id)),
      partition: `p${id % PARTITIONS}`,
    }))
    // The run's restart warnings (a line with `retry`: the cause and the wait).
    const restarts: string[] = []
    let downAt = 0
    // Batch 11 is held until FerretDB is down (it would otherwise end before FerretDB has stopped); FerretDB
    // comes back once the run has restarted twice without it.
    let down: Promise<void> | undefined
    let outage: Promise<void> | undefined
    const takeDown = () => {
      downAt = restarts.length
      down = server().shutdown()
      outage = (async () => {
        await down
        await waitFor(
          () => restarts.length >= downAt + RESTARTS_WHILE_DOWN,
          90_000,
          `${RESTARTS_WHILE_DOWN} restarts while FerretDB is down`,
        )
        await server().start()
      })()
    }
    const summary = await run(
      pipeline('mongo-outage')
        .from(memorySource('rows', input))
        .parse(Row)
        .to(
          heldAt(
            11,
            () => down ?? Promise.resolve(),
            mongodb<Row>({ url: server().url, database: server().database, collection: 'outage' }),
          ),
        ),
      {
        checkpoint: await tempDir(),
        trigger: { kind: 'availableNow' },
        maxBatchRecords: 500,
        retryTimeoutMs: 120_000,
        logger: pino(
          { level: 'warn' },
          {
            write: (line: string) => {
              const entry = JSON.parse(line) as { msg: string; retry?: unknown }
              if (entry.retry !== undefined) restarts.push(entry.msg)
            },
          },
        ),
        onProgress: (progress) => {
          if (progress.batchId === 10 && !outage) takeDown()
        },
      },
    )
    await outage
    t.diagnostic(`restarts: ${restarts.join(' | ')}`)
    assert.ok(restarts.length - downAt >= RESTARTS_WHILE_DOWN, 'the run met the outage and restarted')
    assert.match(restarts[downAt]!, /mongodb sink: .*(ECONNREFUSED|connection|closed|timed out)/i)
    assert.ok(summary.restarts >= RESTARTS_WHILE_DOWN)

    const documents = await db().collection('outage').find().toArray()
    const ids = documents.map((d) => d.id as number).sort((a, b) => a - b)
    assert.equal(ids.length, N, 'no row lost or written twice')
    assert.deepEqual(
      ids,
      Array.from({ length: N }, (_, i) => i),
    )
    assert.deepEqual(
      documents.map(({ _id, ...fields }) => fields).sort((a, b) => (a.id as number) - (b.id as number)),
      Array.from({ length: N }, (_, i) => row(i)),
      'the documents are the rows, by content',
    )
    const end = N / PARTITIONS
    assert.deepEqual((await positionsOf(db(), 'mongo-outage')).positions, {
      p0: end,
      p1: end,
      p2: end,
      p3: end,
    })
  })
})
