import { describe } from 'node:test'
import { mysql } from '../../../src/connectors/mysql/index.ts'
import { type Item, lostCheckpointTests } from '../sql/lost-checkpoint.ts'
import { useMariaDb, utc } from './util.ts'

const db = useMariaDb()

describe('mysql sink: a lost or older checkpoint', () => {
  lostCheckpointTests({
    sink: (table) => mysql<Item>({ url: db.server.url, table, createTable: true }),
    rows: async (table) =>
      (
        await db.query<{ id: number; user: string; amount: number; at: string }>(
          `SELECT id, user, amount, at FROM \`${table}\` ORDER BY id`,
        )
      ).map((r) => ({
        id: Number(r.id),
        user: r.user,
        amount: Number(r.amount),
        at: new Date(utc(r.at)).toISOString(),
      })),
    tempDir: () => db.checkpoint(),
  })
})
