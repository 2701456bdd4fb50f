import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe } from 'node:test'
import { duckdb } from '../../../src/connectors/duckdb/index.ts'
import { type Item, lostCheckpointTests } from '../sql/lost-checkpoint.ts'

const dirs: string[] = []
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-duckdb-lost-'))
  dirs.push(dir)
  return dir
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

describe('duckdb sink: a lost or older checkpoint', async () => {
  const path = join(await tempDir(), 'w.duckdb')
  lostCheckpointTests({
    sink: (table) => duckdb<Item>({ path, table }),
    // Through the sink's query(): its own connection, committed rows only.
    rows: async (table) =>
      (
        await duckdb({ path, table }).query(
          `SELECT id, "user", amount, strftime("at", '%Y-%m-%dT%H:%M:%S.%gZ') AS "at" FROM ${table} ORDER BY id`,
        )
      ).map((r) => ({ id: Number(r.id), user: String(r.user), amount: Number(r.amount), at: String(r.at) })),
    tempDir,
  })
})
