/** Shared by the MySQL sink tests: a MariaDB database per test file, SQL for assertions, temporary checkpoints. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before } from 'node:test'
import mysql2, { type RowDataPacket } from 'mysql2/promise'
import { type MariaDb, startMariaDb } from '../../helpers/mariadb.ts'

export interface Db {
  readonly server: MariaDb
  /** Runs SQL with bound values and returns the rows (BIGINT as numbers when exact, DATETIME as text). */
  query<R = Record<string, unknown>>(sql: string, values?: unknown[]): Promise<R[]>
  /** A temporary checkpoint directory, removed after the file's tests. */
  checkpoint(): Promise<string>
}

/**
 * A MariaDB database before the file's tests, dropped after them: in the server the test files share, or with
 * `ownServer` (a test that restarts it or changes its global settings) in a private one.
 */
export function useMariaDb(options: { readonly ownServer?: boolean } = {}): Db {
  let server: MariaDb | undefined
  const dirs: string[] = []
  before(async () => {
    server = await startMariaDb(options)
  })
  after(async () => {
    await server?.stop()
    for (const d of dirs) await rm(d, { recursive: true, force: true })
  })
  return {
    get server() {
      if (!server) throw new Error('the server starts in before()')
      return server
    },
    async query<R>(sql: string, values: unknown[] = []): Promise<R[]> {
      if (!server) throw new Error('the server starts in before()')
      const conn = await mysql2.createConnection({
        uri: server.url,
        dateStrings: true,
        supportBigNumbers: true,
        charset: 'utf8mb4',
        timezone: 'Z',
      })
      try {
        // The binary protocol: MariaDB's text protocol prints DOUBLE with 15 significant digits.
        try {
          const [rows] = await conn.execute<RowDataPacket[]>(sql, values as never[])
          return rows as R[]
        } catch (error) {
          if ((error as { errno?: number }).errno !== 1295) throw error // not preparable (e.g. LOCK TABLES)
          const [rows] = await conn.query<RowDataPacket[]>(sql, values)
          return rows as R[]
        }
      } finally {
        await conn.end()
      }
    },
    async checkpoint() {
      const dir = await mkdtemp(join(tmpdir(), 'sluice-mysql-ckpt-'))
      dirs.push(dir)
      return dir
    },
  }
}

/** Reads a JSON column: MariaDB reports JSON as text, MySQL as JSON. */
export function json(value: unknown): unknown {
  return typeof value === 'string' ? JSON.parse(value) : value
}

/** A DATETIME read back (UTC text, fraction left out when zero) as epoch ms. */
export function utc(text: unknown): number {
  return Date.parse(`${String(text).replace(' ', 'T')}Z`)
}
