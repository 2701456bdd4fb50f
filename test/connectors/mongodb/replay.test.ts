/**
 * A batch of inserts written again after a crash (its rows landed, its positions did not move) meets its own
 * documents as duplicate `_id`s. Each duplicate is a write already done: the replay must cost a few commands,
 * not a split of every chunk down to single writes and a look-up per document (FerretDB runs each look-up by
 * `_id` as a scan of the whole collection: in a 200k-event run a restarted pipeline made no progress for
 * minutes). A duplicate on another unique index of the collection is no write of the sink's: it is refused.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { type CommandStartedEvent, type Document, MongoClient } from 'mongodb'
import { type Write, writeInChunks } from '../../../src/connectors/mongodb/bulk.ts'
import { useFerretDb } from './util.ts'

const { server } = useFerretDb()

let client: MongoClient | undefined
const commands: string[] = []
const collection = (name: string) => client!.db(server().database).collection<Document>(name)

function insert(index: number, fields: Document): Write {
  const document: Document = { _id: `replay:7:${index}`, ...fields }
  return { index, document, operation: { insertOne: { document } } }
}

const options = { chunk: 500, maxDocumentBytes: 16 * 1024 * 1024 }

/** The commands `work` sent, by name. */
async function commandsOf(work: () => Promise<unknown>): Promise<Record<string, number>> {
  commands.length = 0
  await work()
  const counts: Record<string, number> = {}
  for (const name of commands) counts[name] = (counts[name] ?? 0) + 1
  return counts
}

describe('mongodb sink: a replayed batch of inserts (FerretDB)', () => {
  // A client of its own that counts the commands sent (in the describe: after the server has started).
  before(async () => {
    client = new MongoClient(server().url, { retryWrites: false, monitorCommands: true })
    client.on('commandStarted', (event: CommandStartedEvent) => commands.push(event.commandName))
    await client.connect()
  })
  after(async () => {
    await client?.close().catch(() => {})
  })

  test('its own documents already there are written once, in a few commands; a refused one is named', async (t) => {
    const target = collection('replayed')
    const writes = Array.from({ length: 900 }, (_, i) => insert(i, { i, text: `row ${i}` }))
    // The crashed run: the first 700 rows landed.
    assert.equal((await writeInChunks(target, writes.slice(0, 700), options)).size, 0)
    // The replay adds a row the server refuses (a "$" field name) among the new ones.
    const replay = writes.map((w) => (w.index === 800 ? insert(800, { i: 800, $bad: 1 }) : w))
    let refused = new Map<number, string>()
    const sent = await commandsOf(async () => {
      refused = await writeInChunks(target, replay, options)
    })
    assert.deepEqual([...refused.keys()], [800], 'only the bad row is refused')
    assert.match(refused.get(800)!, /\$bad/)
    const ids = (await target.find({}, { projection: { i: 1 } }).toArray()).map((d) => d.i as number)
    assert.deepEqual(
      ids.sort((a, b) => a - b),
      Array.from({ length: 900 }, (_, i) => i).filter((i) => i !== 800),
      'every other row once',
    )
    // Two chunks of inserts and a look at the collection's indexes; before, each duplicate was split out
    // alone and looked up: over a thousand commands.
    t.diagnostic(`commands of the replay: ${JSON.stringify(sent)}`)
    assert.ok((sent.insert ?? 0) <= 2, `inserts sent: ${JSON.stringify(sent)}`)
    const total = Object.values(sent).reduce((a, b) => a + b, 0)
    assert.ok(total <= 4, `commands sent: ${JSON.stringify(sent)}`)
  })

  test('a duplicate on another unique index is refused, not taken for a write already done', async () => {
    const target = collection('unique_emails')
    await target.createIndex({ email: 1 }, { unique: true })
    const writes = Array.from({ length: 6 }, (_, i) => insert(i, { email: `u${i}@example.com` }))
    assert.equal((await writeInChunks(target, writes.slice(0, 4), options)).size, 0)
    // Row 5 is new but takes row 1's email.
    const replay = writes.map((w) => (w.index === 5 ? insert(5, { email: 'u1@example.com' }) : w))
    const refused = await writeInChunks(target, replay, options)
    assert.deepEqual([...refused.keys()], [5])
    assert.match(refused.get(5)!, /E11000|duplicate/)
    const stored = await target.find().sort({ _id: 1 }).toArray()
    assert.deepEqual(
      stored.map((d) => d._id),
      [0, 1, 2, 3, 4].map((i) => `replay:7:${i}`),
    )
  })
})
