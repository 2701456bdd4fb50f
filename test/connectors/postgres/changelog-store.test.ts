import { after, before, describe } from 'node:test'
import pg from 'pg'
import { PostgresChangelogStore } from '../../../src/connectors/postgres/changelog-store.ts'
import { startPostgres, type TestPostgres } from '../../helpers/postgres.ts'
import { changelogStoreTests } from '../sql/changelog-store.ts'

/**
 * The changelog of a scaled-out keyed pipeline into PostgreSQL, kept in the sink's database: written in a
 * batch's transaction, read back as the state per key, versions that say when a partition changed.
 */

let database: TestPostgres
let pool: pg.Pool
before(async () => {
  database = await startPostgres()
  pool = new pg.Pool({ connectionString: database.url, max: 4 })
  pool.on('error', () => {})
  pool.on('connect', (client) => client.on('error', () => {}))
})
after(async () => {
  await pool?.end()
  await database?.stop()
})

async function inTransaction(work: (client: pg.PoolClient) => Promise<void>, commit = true): Promise<void> {
  const client = await pool.connect()
  try {
    await client.query('BEGIN')
    await work(client)
    await client.query(commit ? 'COMMIT' : 'ROLLBACK')
  } finally {
    client.release()
  }
}

describe('the PostgreSQL changelog store', () => {
  changelogStoreTests({
    store: () => new PostgresChangelogStore(pool, { schema: undefined, name: 'sluice_offsets' }),
    write: (store, records, commit = true) => inTransaction((c) => store.write(c, records), commit),
  })
})
