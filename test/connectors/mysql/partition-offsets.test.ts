import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import mysql2, { type Pool, type PoolConnection } from 'mysql2/promise'
import { mysql } from '../../../src/connectors/mysql/index.ts'
import { MySqlPartitionOffsets } from '../../../src/connectors/mysql/partition-offsets.ts'
import { SinkFencedError } from '../../../src/runtime/sink.ts'
import type { SourceRecord } from '../../../src/runtime/source.ts'
import { waitFor } from '../../helpers/wait.ts'
import { useMariaDb } from './util.ts'

/**
 * The positions of a pipeline whose instances share its input's partitions, in MariaDB: a row per partition,
 * and a commit that holds only when the rows still say what the committing instance expects.
 */

// A server of its own: the race test below once waited for a lock wait in the server-wide INNODB_TRX, which
// showed none for 30 s while another file ran beside it, and again on this server once (not understood); it
// now watches its second connection's statement instead.
const db = useMariaDb({ ownServer: true })
let pool: Pool

const record = (partition: string, offset: number): SourceRecord => ({
  partition,
  offset,
  key: null,
  value: null,
  timestamp: 0,
})

async function withConnection<T>(work: (conn: PoolConnection) => Promise<T>): Promise<T> {
  const conn = await pool.getConnection()
  try {
    return await work(conn)
  } finally {
    conn.release()
  }
}

async function inTransaction<T>(work: (conn: PoolConnection) => Promise<T>): Promise<T> {
  return withConnection(async (conn) => {
    await conn.query('START TRANSACTION')
    try {
      const result = await work(conn)
      await conn.query('COMMIT')
      return result
    } catch (error) {
      await conn.query('ROLLBACK')
      throw error
    }
  })
}

async function created(offsetsTable: string, pipeline = 'p'): Promise<MySqlPartitionOffsets> {
  const offsets = new MySqlPartitionOffsets(offsetsTable, pipeline, 'test sink')
  await withConnection((c) => offsets.ensure(c, db.server.database, 'utf8mb4_nopad_bin'))
  return offsets
}

const read = (offsets: MySqlPartitionOffsets, partitions: string[]) =>
  withConnection((c) => offsets.read(c, partitions))

describe('MariaDB positions per partition', () => {
  // Inside the describe: its hooks run after the file's, which start the server.
  before(() => {
    pool = mysql2.createPool({ uri: db.server.url, connectionLimit: 4, supportBigNumbers: true })
  })
  after(async () => {
    await pool?.end()
  })

  test('a commit moves its partitions on; one that expects another position is fenced and changes nothing', async () => {
    const offsets = await created('moves_offsets')
    await inTransaction((c) =>
      offsets.commit(c, [record('t:0', 0), record('t:1', 4)], {}, { 't:0': 1, 't:1': 5 }, 'a'),
    )
    assert.deepEqual(await read(offsets, ['t:0', 't:1', 't:2']), { 't:0': 1, 't:1': 5 })
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
    assert.deepEqual(await read(offsets, ['t:0', 't:1']), { 't:0': 1, 't:1': 6 })
    const rows = await db.query<{ partition: string; instance: string; version: number }>(
      'SELECT `partition`, instance, version FROM moves_offsets_partitions ORDER BY `partition`',
    )
    assert.deepEqual(
      rows.map((r) => [r.partition, r.instance, Number(r.version)]),
      [
        ['t:0', 'a', 1],
        ['t:1', 'b', 2],
      ],
    )
  })

  test('two instances committing a partition first at once: one commits, the other is fenced', async () => {
    const offsets = await created('race_offsets')
    const first = await pool.getConnection()
    const other = await pool.getConnection()
    try {
      await first.query('START TRANSACTION')
      await offsets.commit(first, [record('t:0', 0)], {}, { 't:0': 10 }, 'a')
      // The second queues on the row the first inserted, then finds it committed. Its outcome is taken at
      // once: it may settle while the first's COMMIT is answered.
      let settled = false
      const second = (async () => {
        await other.query('START TRANSACTION')
        try {
          await offsets.commit(other, [record('t:0', 0)], {}, { 't:0': 20 }, 'b')
          await other.query('COMMIT')
          return 'committed'
        } catch (error) {
          await other.query('ROLLBACK')
          return error
        } finally {
          settled = true
        }
      })()
      // Its statement in progress on its own connection, not a lock wait anywhere on the server: the
      // server-wide INNODB_TRX once showed none for 30 s under load, on a server of the test's own.
      let last: unknown
      await waitFor(
        async () => {
          if (settled) return true
          const [row] = await db.query<{ info: string | null }>(
            'SELECT INFO AS info FROM information_schema.PROCESSLIST WHERE ID = ?',
            [other.threadId],
          )
          last = row?.info
          return /^INSERT IGNORE/.test(row?.info ?? '')
        },
        30_000,
        'the second to wait for the row the first inserted',
      ).catch((error: unknown) => {
        throw new Error(`${String(error)}; its connection last ran: ${String(last)}`)
      })
      assert.equal(settled, false, `the second waits for the first's row: ${settled ? await second : ''}`)
      await first.query('COMMIT')
      assert.ok((await second) instanceof SinkFencedError, `the second is fenced: ${await second}`)
    } finally {
      first.release()
      other.release()
    }
    assert.deepEqual(await read(offsets, ['t:0']), { 't:0': 10 })
  })

  test('a batch that leaves a partition where it was (a keyed task closing windows) fences the old owner too', async () => {
    const a = await created('held_offsets')
    const b = await created('held_offsets')
    await inTransaction(async (c) =>
      a.committed(await a.commit(c, [record('t:0', 4)], {}, { 't:0': 5 }, 'a')),
    )
    // b is given t:0 (a was frozen past its session timeout) and reads where it stands.
    assert.deepEqual(await read(b, ['t:0']), { 't:0': 5 })
    await inTransaction(async (c) => b.committed(await b.commit(c, [], { 't:0': 5 }, {}, 'b', ['t:0'])))
    // a wakes: same position, but a stale version.
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
    assert.deepEqual(await read(b, ['t:0', 't:1']), { 't:0': 6 })
  })

  test('a pipeline that ran as one process keeps its positions when it first runs shared', async () => {
    const offsets = await created('adopt_offsets')
    await withConnection((c) => offsets.adopt(c, { 't:0': 7, 't:1': 9 }))
    await withConnection((c) => offsets.adopt(c, { 't:0': 3 })) // once: rows already there win
    assert.deepEqual(await read(offsets, ['t:0', 't:1']), { 't:0': 7, 't:1': 9 })
  })

  test('pipelines sharing the table keep their own rows', async () => {
    const p = await created('pipelines_offsets', 'p')
    const q = await created('pipelines_offsets', 'q')
    await inTransaction((c) => p.commit(c, [record('t:0', 0)], {}, { 't:0': 1 }, 'a'))
    await inTransaction((c) => q.commit(c, [record('t:0', 0)], {}, { 't:0': 8 }, 'a'))
    assert.deepEqual(await read(p, ['t:0']), { 't:0': 1 })
    assert.deepEqual(await read(q, ['t:0']), { 't:0': 8 })
  })
})

describe('mysql({ scaleOut })', () => {
  test('a plan scales out by default, its keyed state too; scaleOut: false keeps one position, and says so', () => {
    assert.equal(mysql({ table: 't' }).scalesOut, 'with-state')
    const single = mysql({ table: 't', scaleOut: false })
    assert.equal(single.scalesOut, undefined)
    assert.equal(single.options['scaleOut'], false)
  })

  test('an offsets table whose "_partitions" table would pass the server\'s name limit is refused up front', () => {
    const long = 'o'.repeat(60)
    assert.throws(() => mysql({ table: 't', offsetsTable: long }), /offsetsTable with "_partitions" added/)
    assert.doesNotThrow(() => mysql({ table: 't', offsetsTable: long, scaleOut: false }))
  })
})
