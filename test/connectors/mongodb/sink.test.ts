/**
 * The MongoDB sink's write modes against a real FerretDB (MongoDB's wire protocol, no transactions): what
 * each collection holds afterwards, the positions (one document per partition), the path the server got, and
 * a second run — with the checkpoint, and without it — that writes nothing twice.
 */
import assert from 'node:assert/strict'
import { rm } from 'node:fs/promises'
import { describe, test } from 'node:test'
import { z } from 'zod'
import { parsePipelineYaml } from '../../../src/config/index.ts'
import { type MongoSinkContract, mongodb } from '../../../src/connectors/mongodb/index.ts'
import { memorySource } from '../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { run } from '../../../src/runtime/run.ts'
import type { SinkContract, SinkOpenContext, SinkSpec, SinkWriter } from '../../../src/runtime/sink.ts'
import { positionsOf, tempDir, useFerretDb } from './util.ts'

const { server, db } = useFerretDb()

const Page = z.object({ id: z.number(), page: z.string(), views: z.number(), ref: z.string().nullable() })
type Page = z.infer<typeof Page>

/** n rows over three partitions; every fifth without a referrer; ids repeat every `distinct` rows. */
function pages(n = 60, distinct = n): { value: string; partition: string }[] {
  return Array.from({ length: n }, (_, i) => {
    const id = i % distinct
    return {
      value: JSON.stringify({ id, page: `/p/${id}`, views: i * 3, ref: i % 5 === 0 ? null : `r${i}` }),
      partition: `p${i % 3}`,
    }
  })
}

async function runInto(id: string, sink: SinkSpec<Page>, checkpoint: string, input = pages()) {
  const p = pipeline(id).from(memorySource('pages', input)).parse(Page).to(sink)
  return run(p, { checkpoint, trigger: { kind: 'availableNow' }, maxBatchRecords: 7 })
}

const sinkOf = (collection: string, extra: { key?: 'id' | ('id' | 'page')[] } = {}) =>
  mongodb<Page>({ url: server().url, database: server().database, collection, ...extra })

describe('mongodb sink (FerretDB)', () => {
  test("mode 'insert': one document per row, _id from the pipeline, batch and row; a rerun writes nothing again", async () => {
    const checkpoint = await tempDir()
    const summary = await runInto('mongo-insert', sinkOf('pages'), checkpoint)
    assert.equal(summary.outputRows, 60)
    const documents = await db().collection('pages').find().sort({ id: 1 }).toArray()
    assert.equal(documents.length, 60)
    assert.deepEqual(documents[7], { _id: documents[7]!._id, id: 7, page: '/p/7', views: 21, ref: 'r7' })
    assert.equal(documents[5]!.ref, null, 'a null field is stored as null')
    assert.match(String(documents[0]!._id), /^mongo-insert:\d+:\d+$/)
    assert.deepEqual(await positionsOf(db(), 'mongo-insert'), {
      batchId: summary.batches - 1,
      positions: { p0: 20, p1: 20, p2: 20 },
    })
    const partitions = await db().collection('sluice_positions').countDocuments({ pipeline: 'mongo-insert' })
    assert.equal(partitions, 4, 'one document per partition and the marker')
    await db().collection('pages').deleteOne({ id: 3 })
    const again = await runInto('mongo-insert', sinkOf('pages'), checkpoint)
    assert.equal(again.outputRows, 0)
    assert.equal(await db().collection('pages').countDocuments(), 59, 'the rerun wrote nothing')
  })

  test("mode 'upsert' by one field: the document whose _id is the key holds the latest row", async () => {
    await runInto('mongo-upsert', sinkOf('latest', { key: 'id' }), await tempDir(), pages(60, 20))
    const documents = await db().collection('latest').find().sort({ _id: 1 }).toArray()
    assert.equal(documents.length, 20)
    // Row 47 is the last with id 7 (47 % 20 = 7).
    assert.deepEqual(documents[7], { _id: 7, id: 7, page: '/p/7', views: 141, ref: 'r47' })
  })

  test("mode 'upsert' by two fields: _id is an object of them in order", async () => {
    await runInto('mongo-upsert-2', sinkOf('by_two', { key: ['page', 'id'] }), await tempDir(), pages(40, 10))
    assert.equal(await db().collection('by_two').countDocuments(), 10)
    const one = await db()
      .collection<{ _id: { page: string; id: number } }>('by_two')
      .findOne({ _id: { page: '/p/3', id: 3 } })
    assert.deepEqual(one, { _id: { page: '/p/3', id: 3 }, id: 3, page: '/p/3', views: 99, ref: 'r33' })
  })

  test('the contract says how the server got exactly once: FerretDB has no transactions', async () => {
    const inner = sinkOf('contract')
    let contract: SinkContract | undefined
    let writer: SinkWriter<Page> | undefined
    const watched: SinkSpec<Page> = {
      ...inner,
      create() {
        const w = inner.create()
        return {
          get description() {
            return w.description
          },
          open: async (context: SinkOpenContext) => {
            contract = await w.open(context)
            writer = w
            return contract
          },
          write: (batch) => w.write(batch),
          commit: (batch, context) => w.commit(batch, context),
          hasCommitted: (batch) => w.hasCommitted!(batch),
          committedPosition: () => w.committedPosition!(),
          close: () => w.close(),
        }
      },
    }
    await runInto('mongo-contract', watched, await tempDir(), pages(5))
    assert.equal(contract?.guarantee, 'exactly-once')
    assert.equal((contract as MongoSinkContract | undefined)?.exactlyOnceBy, 'idempotent-writes')
    assert.match(writer?.description ?? '', /\(insert, idempotent writes\)$/)
  })

  test('a run without its checkpoint resumes from the positions in the database', async () => {
    const checkpoint = await tempDir()
    await runInto('mongo-resume', sinkOf('resume'), checkpoint, pages(40))
    assert.equal(await db().collection('resume').countDocuments(), 40)
    await rm(checkpoint, { recursive: true, force: true })
    const rest = await runInto('mongo-resume', sinkOf('resume'), checkpoint, pages(60))
    assert.equal(rest.outputRows, 20)
    const ids = (await db().collection('resume').find().toArray()).map((d) => d.id as number)
    assert.deepEqual(
      ids.sort((a, b) => a - b),
      Array.from({ length: 60 }, (_, i) => i),
      'every row once',
    )
  })

  test('a YAML pipeline writes through sink.mongodb (upsert by two fields)', async () => {
    const text =
      'pipeline: mongo-yaml\nsource: { generator: { count: 300, seed: 3, bad: 0 } }\nschema: clickstream-event\n' +
      `sink: { mongodb: { url: "${server().url}", database: ${server().database}, collection: by_type, key: [event_type, platform] } }\n`
    const p = await parsePipelineYaml(text, { file: 'p.yaml', env: {} })
    const summary = await run(p, { checkpoint: await tempDir(), trigger: { kind: 'availableNow' } })
    assert.equal(summary.outputRows, 300)
    const documents = await db().collection('by_type').find().toArray()
    const pairs = new Set(documents.map((d) => `${d.event_type}/${d.platform}`))
    assert.ok(documents.length >= 2, `${documents.length} documents`)
    assert.equal(pairs.size, documents.length, `one per pair: ${JSON.stringify(documents.map((d) => d._id))}`)
    assert.deepEqual(Object.keys(documents[0]!._id as object), ['event_type', 'platform'])
  })
})
