import { describe } from 'node:test'
import { postgres } from '../../../src/connectors/postgres/index.ts'
import { type Item, lostCheckpointTests } from '../sql/lost-checkpoint.ts'
import { tempDir, useDatabase } from './util.ts'

const { db, sql } = useDatabase()

describe('postgres sink: a lost or older checkpoint', () => {
  lostCheckpointTests({
    sink: (table) => postgres<Item>({ url: db().url, table, createTable: true }),
    rows: async (table) =>
      (
        await sql<{ id: string; user: string; amount: number; at: Date }>(
          `SELECT id, "user", amount, "at" FROM ${table} ORDER BY id`,
        )
      ).map((r) => ({ id: Number(r.id), user: r.user, amount: r.amount, at: r.at.toISOString() })),
    tempDir,
  })
})
