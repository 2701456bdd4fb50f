import { after, before } from 'node:test'
import pg from 'pg'
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts'
import { type WindowRow, windowCells } from './scale-out-stateful-fixture.ts'

/**
 * The PostgreSQL database of the scale-out tests that write there: one server per test file that imports this,
 * started before its tests (the instances, child processes, take it from SINK_DATABASE_URL).
 */

let database: TestPostgres
export let db: pg.Pool
before(async () => {
  database = await startPostgres()
  db = new pg.Pool({ connectionString: database.url, max: 2 })
  process.env.SINK_DATABASE_URL = database.url
})
after(async () => {
  await db?.end()
  await database?.stop()
})

/** The windows a loader wrote to `table`: cell → every value it holds (one, when exactly once). */
export async function tableCells(table: string): Promise<Map<string, number[]>> {
  const result = await db
    .query<WindowRow>(`SELECT key, window_start, value FROM "${table}"`)
    .catch((error: { code?: string }) => {
      if (error.code === '42P01') return { rows: [] }
      throw error
    })
  return windowCells(result.rows)
}
