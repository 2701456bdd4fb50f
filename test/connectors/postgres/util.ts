import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before } from 'node:test'
import pg from 'pg'
import { startPostgres, type TestPostgres } from '../../helpers/postgres.ts'

/**
 * One database per test file, closed after it; `db()` inside tests. `ownServer`: a cluster of its own, for a
 * test that restarts the server (startPostgres).
 */
export function useDatabase(options: { readonly ownServer?: boolean } = {}): {
  db: () => TestPostgres
  sql: <R extends pg.QueryResultRow>(text: string, params?: unknown[]) => Promise<R[]>
} {
  let current: TestPostgres | undefined
  let pool: pg.Pool | undefined
  before(async () => {
    current = await startPostgres(options)
    pool = new pg.Pool({ connectionString: current.url, max: 2 })
    pool.on('error', () => {})
  })
  after(async () => {
    await pool?.end()
    await current?.stop()
  })
  return {
    db: () => {
      if (!current) throw new Error('the database is not started yet')
      return current
    },
    sql: async <R extends pg.QueryResultRow>(text: string, params: unknown[] = []) => {
      if (!pool) throw new Error('the database is not started yet')
      return (await pool.query<R>(text, params)).rows
    },
  }
}

const dirs: string[] = []
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-pg-ckpt-'))
  dirs.push(dir)
  return dir
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

export const T0 = Date.parse('2026-11-25T10:00:00Z')

/** Clickstream-like rows, deterministic, over three partitions. */
export interface Click {
  id: number
  user: string
  page: string
  event_time: string
  price: number
  ok: boolean
  meta: { ref: string | null; tags: string[] }
}

export function clicks(n: number, seed = 1): { value: string; partition: string }[] {
  let state = seed
  const rand = () => {
    state = (state * 1103515245 + 12345) % 2147483648
    return state / 2147483648
  }
  return Array.from({ length: n }, (_, i) => {
    const click: Click = {
      id: i,
      user: `u-${String(Math.floor(rand() * 500)).padStart(6, '0')}`,
      page: `/p/${Math.floor(rand() * 40)}`,
      event_time: new Date(T0 + i * 250).toISOString(),
      price: (Math.floor(rand() * 10000) + 0.5) / 100,
      ok: rand() > 0.1,
      meta: { ref: rand() > 0.5 ? null : 'https://example.com/?q="x"', tags: ['a', `t${i % 3}`] },
    }
    return { value: JSON.stringify(click), partition: `p${i % 3}` }
  })
}
