import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before } from 'node:test'
import { type Db, MongoClient } from 'mongodb'
import { startFerretDb, type TestFerretDb } from '../../helpers/ferretdb.ts'

/** One private FerretDB per test file and a client of its own for the checks; stopped after it. */
export function useFerretDb(): { server: () => TestFerretDb; db: () => Db } {
  let server: TestFerretDb | undefined
  let client: MongoClient | undefined
  before(async () => {
    server = await startFerretDb()
    client = new MongoClient(server.url, { retryWrites: false })
    await client.connect()
  })
  after(async () => {
    await client?.close().catch(() => {})
    await server?.stop()
  })
  return {
    server: () => {
      if (!server) throw new Error('ferretdb is not started yet')
      return server
    },
    db: () => {
      if (!server || !client) throw new Error('ferretdb is not started yet')
      return client.db(server.database)
    },
  }
}

const dirs: string[] = []
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-mongo-ckpt-'))
  dirs.push(dir)
  return dir
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

/** The positions the sink committed for a pipeline: its marker's batch, and each partition's position. */
export async function positionsOf(db: Db, pipelineId: string, collection = 'sluice_positions') {
  const documents = await db.collection(collection).find({ pipeline: pipelineId }).toArray()
  const marker = documents.find((d) => d.partition === undefined)
  const positions: Record<string, number> = {}
  for (const d of documents)
    if (typeof d.partition === 'string')
      positions[d.partition] = d.batch <= (marker?.batch ?? -1) ? d.position : d.previous
  return { batchId: (marker?.batch as number | undefined) ?? -1, positions }
}
