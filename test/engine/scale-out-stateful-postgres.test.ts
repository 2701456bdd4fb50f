import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  diagnose,
  groupCommittedAll,
  type Instance,
  startInstance,
  waitForMembers,
} from '../helpers/instances.ts'
import { freshTopic } from '../helpers/kafka.ts'
import { waitFor } from '../helpers/wait.ts'
import { db, tableCells } from './scale-out-postgres-db.ts'
import {
  assertCellsExact,
  produceClosers,
  produceEvents,
  reference,
  tempDir,
} from './scale-out-stateful-fixture.ts'

/**
 * A keyed pipeline (dedupe, then per-record-key 10-second counts) into PostgreSQL, scaled out: its state
 * changes commit in the database transaction with the windows and the partition positions, and an instance
 * that takes a partition over restores the partition's state from the database.
 */

const PARTITIONS = 6

/** Rows per emitting instance ("name/pid") in `table`. */
async function writers(table: string): Promise<Map<string, number>> {
  const result = await db
    .query<{ by: string; n: string }>(`SELECT by, count(*) AS n FROM "${table}" GROUP BY by`)
    .catch((error: { code?: string }) => {
      if (error.code === '42P01') return { rows: [] }
      throw error
    })
  return new Map(result.rows.map((r) => [r.by, Number(r.n)]))
}

async function rowCount(table: string): Promise<number> {
  return [...(await writers(table)).values()].reduce((a, b) => a + b, 0)
}

const emittedBy = (rows: Map<string, number>, name: string) =>
  [...rows].filter(([by]) => by.startsWith(`${name}/`)).reduce((n, [, k]) => n + k, 0)

describe('a keyed pipeline into PostgreSQL scaled out over two instances', () => {
  test('one SIGKILLed mid-run: the other restores its partitions from the database, every window once and exact', {
    timeout: 400_000,
  }, async () => {
    const input = await freshTopic('pg-state-in', PARTITIONS)
    const table = `windows_${input.replaceAll('-', '_')}`
    const a = startInstance('scaled-stateful-postgres', 'a', input, table, await tempDir(), 'info')
    const b = startInstance('scaled-stateful-postgres', 'b', input, table, await tempDir(), 'info')
    const instances: Instance[] = [a, b]
    try {
      await waitForMembers(input, 2).catch(async (error) => {
        throw new Error(`${error}\n${await diagnose(input, instances)}`)
      })
      // Input until both write windows (a cooperative rebalance gives the second its partitions in a second
      // round).
      let produced = 0
      for (;;) {
        const rows = await writers(table)
        if (emittedBy(rows, 'a') > 0 && emittedBy(rows, 'b') > 0) break
        assert.ok(
          produced < 100_000,
          `both instances write within 100,000 inputs: ${JSON.stringify([...rows])}`,
        )
        await produceEvents(input, produced, produced + 5000, PARTITIONS)
        produced += 5000
        const target = (await rowCount(table)) + 50
        await waitFor(
          async () => (await rowCount(table)) >= target,
          120_000,
          'windows of the new input',
        ).catch(async (error) => {
          throw new Error(`${error}\n${await diagnose(input, instances)}`)
        })
      }
      // Mid-run, with windows of its partitions open in its state.
      a.child.kill('SIGKILL')
      await a.exited
      const saidBefore = b.stderr().length
      await produceEvents(input, produced, produced + 10_000, PARTITIONS)
      produced += 10_000
      await produceClosers(input, produced - 1, PARTITIONS)
      const expected = reference(produced)
      await waitFor(
        async () => (await rowCount(table)) >= expected.size,
        150_000,
        `all ${expected.size} windows`,
      ).catch(async (error) => {
        throw new Error(`${error}; ${await rowCount(table)} rows\n${await diagnose(input, [b])}`)
      })
      await groupCommittedAll(input)
      assertCellsExact(await tableCells(table), expected, 'in PostgreSQL')
      assert.equal(await rowCount(table), expected.size)
      // b took a's partitions over with their state from the database.
      const restored = [
        ...b
          .stderr()
          .slice(saidBefore)
          .matchAll(/, (\d+) rows from the changelog\)/g),
      ].map((m) => Number(m[1]))
      assert.ok(
        restored.some((rows) => rows > 0),
        `b restored state from the changelog: ${restored.join(', ')}`,
      )
    } finally {
      for (const i of instances) i.child.kill('SIGKILL')
      await Promise.all(instances.map((i) => i.exited))
    }
  })
})
