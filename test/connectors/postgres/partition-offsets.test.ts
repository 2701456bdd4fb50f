import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import { PostgresPartitionOffsets } from '../../../src/connectors/postgres/partition-offsets.ts'
import { SinkFencedError } from '../../../src/runtime/sink.ts'
import type { SourceRecord } from '../../../src/runtime/source.ts'
import { startPostgres, type TestPostgres } from '../../helpers/postgres.ts'

/**
 * The positions of a pipeline whose instances share its input's partitions: a row per partition, and a
 * commit that holds only when the rows still say what the committing instance expects.
 */

let database: TestPostgres
let pool: pg.Pool
before(async () => {
  database = await startPostgres()
  pool = new pg.Pool({ connectionString: database.url, max: 4 })
  // A connection the server ends (its shutdown in after(), under load while a client is still being handed
  // back) reports an error event: without a listener that is an uncaught exception failing the whole file.
  pool.on('error', () => {})
  pool.on('connect', (client) => client.on('error', () => {}))
})
after(async () => {
  await pool?.end()
  await database?.stop()
})

const record = (partition: string, offset: number): SourceRecord => ({
  partition,
  offset,
  key: null,
  value: null,
  timestamp: 0,
})

async function inTransaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect()
  try {
    await client.query('BEGIN')
    const result = await work(client)
    await client.query('COMMIT')
    return result
  } catch (error) {
    await client.query('ROLLBACK')
    throw error
  } finally {
    client.release()
  }
}

describe('PostgreSQL positions per partition', () => {
  test('a commit moves its partitions on; one that expects another position is fenced and changes nothing', async () => {
    const offsets = new PostgresPartitionOffsets(
      { schema: undefined, name: 'moves_offsets' },
      'p',
      'test sink',
    )
    await pool.query(offsets.createSql)
    await inTransaction((c) =>
      offsets.commit(c, [record('t:0', 0), record('t:1', 4)], {}, { 't:0': 1, 't:1': 5 }, 'a'),
    )
    assert.deepEqual(await offsets.read(pool, ['t:0', 't:1', 't:2']), { 't:0': 1, 't:1': 5 })
    // The instance that took t:1 over committed it further meanwhile.
    await inTransaction((c) => offsets.commit(c, [record('t:1', 5)], { 't:1': 5 }, { 't:1': 6 }, 'b'))
    // The old owner still believes t:1 stands at 5.
    await assert.rejects(
      inTransaction((c) =>
        offsets.commit(
          c,
          [record('t:0', 1), record('t:1', 5)],
          { 't:0': 1, 't:1': 5 },
          { 't:0': 2, 't:1': 6 },
          'a',
        ),
      ),
      (error: unknown) =>
        error instanceof SinkFencedError &&
        /t:1 has position 6 committed where this instance expected position 5/.test(error.message),
    )
    assert.deepEqual(await offsets.read(pool, ['t:0', 't:1']), { 't:0': 1, 't:1': 6 })
  })

  test('two instances committing a partition first at once: one commits, the other is fenced', async () => {
    const offsets = new PostgresPartitionOffsets(
      { schema: undefined, name: 'race_offsets' },
      'p',
      'test sink',
    )
    await pool.query(offsets.createSql)
    const first = await pool.connect()
    try {
      await first.query('BEGIN')
      await offsets.commit(first, [record('t:0', 0)], {}, { 't:0': 10 }, 'a')
      // The second queues on the row the first inserted, then finds it committed.
      // Its outcome is taken at once: it may settle while the first's COMMIT is answered.
      const second = inTransaction((c) => offsets.commit(c, [record('t:0', 0)], {}, { 't:0': 20 }, 'b')).then(
        () => 'committed',
        (error: unknown) => error,
      )
      await new Promise((resolve) => setImmediate(resolve))
      await first.query('COMMIT')
      assert.ok((await second) instanceof SinkFencedError, `the second is fenced: ${await second}`)
    } finally {
      first.release()
    }
    assert.deepEqual(await offsets.read(pool, ['t:0']), { 't:0': 10 })
  })

  test('a batch that leaves a partition where it was (a keyed task closing windows) fences the old owner too', async () => {
    const table = { schema: undefined, name: 'held_offsets' }
    const a = new PostgresPartitionOffsets(table, 'p', 'test sink')
    const b = new PostgresPartitionOffsets(table, 'p', 'test sink')
    await pool.query(a.createSql)
    await inTransaction(async (c) =>
      a.committed(await a.commit(c, [record('t:0', 4)], {}, { 't:0': 5 }, 'a')),
    )
    // b is given t:0 (a was frozen past its session timeout) and reads where it stands.
    assert.deepEqual(await b.read(pool, ['t:0']), { 't:0': 5 })
    // b's task closes windows without records of t:0: the position stays, the commit counts.
    await inTransaction(async (c) => b.committed(await b.commit(c, [], { 't:0': 5 }, {}, 'b', ['t:0'])))
    // a wakes and closes the same windows: same position, but not the commit it last saw.
    await assert.rejects(
      inTransaction(async (c) => a.committed(await a.commit(c, [], { 't:0': 5 }, {}, 'a', ['t:0']))),
      (error: unknown) =>
        error instanceof SinkFencedError &&
        /t:0 was committed by another instance since this one read it \(at position 5\)/.test(error.message),
    )
    // b goes on: records move the position, held partitions keep theirs.
    await inTransaction(async (c) =>
      b.committed(await b.commit(c, [record('t:0', 5)], { 't:0': 5 }, { 't:0': 6 }, 'b', ['t:1'])),
    ).catch((error: unknown) => assert.fail(`b commits: ${error}`))
    assert.deepEqual(await b.read(pool, ['t:0', 't:1']), { 't:0': 6 })
  })

  test('a pipeline that ran as one process keeps its positions when it first runs shared', async () => {
    const offsets = new PostgresPartitionOffsets(
      { schema: undefined, name: 'adopt_offsets' },
      'p',
      'test sink',
    )
    await pool.query(offsets.createSql)
    await offsets.adopt(pool, { 't:0': 7, 't:1': 9 })
    await offsets.adopt(pool, { 't:0': 3 }) // once: rows already there win
    assert.deepEqual(await offsets.read(pool, ['t:0', 't:1']), { 't:0': 7, 't:1': 9 })
  })
})
