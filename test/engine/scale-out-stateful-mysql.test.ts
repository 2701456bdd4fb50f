import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { useMariaDb } from '../connectors/mysql/util.ts'
import {
  diagnose,
  groupCommittedAll,
  type Instance,
  startInstance,
  waitForMembers,
} from '../helpers/instances.ts'
import { freshTopic } from '../helpers/kafka.ts'
import { waitFor } from '../helpers/wait.ts'
import {
  assertCellsExact,
  produceClosers,
  produceEvents,
  reference,
  tempDir,
  type WindowRow,
  windowCells,
} from './scale-out-stateful-fixture.ts'

/**
 * A keyed pipeline (dedupe, then per-record-key 10-second counts) into MariaDB, scaled out: its state changes
 * commit in the database transaction with the windows and the partition positions, and an instance that takes
 * a partition over restores the partition's state from the database. Instances come (1 → 3), one is SIGKILLed
 * and replaced by one with an empty state directory, another is SIGKILLed for good (3 → 2): the table holds
 * every window once, with the count an independent reference computes from the input.
 */

const PARTITIONS = 6
const db = useMariaDb()

/** Rows per emitting instance ("name/pid") in `table`. */
async function writers(table: string): Promise<Map<string, number>> {
  const counted = await db
    .query<{ by: string; n: number }>(`SELECT \`by\`, COUNT(*) AS n FROM \`${table}\` GROUP BY \`by\``)
    .catch((error: { errno?: number }) => {
      if (error.errno === 1146) return [] // not created yet
      throw error
    })
  return new Map(counted.map((r) => [r.by, Number(r.n)]))
}

async function rowCount(table: string): Promise<number> {
  return [...(await writers(table)).values()].reduce((a, b) => a + b, 0)
}

const emittedBy = (rows: Map<string, number>, name: string) =>
  [...rows].filter(([by]) => by.startsWith(`${name}/`)).reduce((n, [, k]) => n + k, 0)

/** An instance's log line of a restore, with the rows read from the changelog tables. */
const RESTORED = /, (\d+) rows from the changelog\)/g

/** The rows restored from the changelog tables, per restore, that an instance logged. */
const restoredRows = (instance: Instance) =>
  [...instance.stderr().matchAll(RESTORED)].map((m) => Number(m[1]))

describe('a keyed pipeline into MariaDB scaled out', () => {
  test('1 → 3 instances, one SIGKILLed and replaced with an empty state directory, one SIGKILLed (3 → 2): every window once and exact', {
    timeout: 400_000,
  }, async (t) => {
    // The instances (child processes) take the database from their environment.
    process.env.SINK_MYSQL_URL = db.server.url
    const started = Date.now()
    const input = await freshTopic('my-state-in', PARTITIONS)
    const table = `windows_${input.replaceAll('-', '_')}`
    const running = new Map<string, Instance>()
    const start = async (name: string) =>
      running.set(name, startInstance('scaled-stateful-mysql', name, input, table, await tempDir(), 'info'))
    const kill = async (name: string) => {
      const instance = running.get(name)!
      instance.child.kill('SIGKILL')
      await instance.exited
      running.delete(name)
    }
    const explain = async (error: unknown): Promise<never> => {
      throw new Error(
        `${error}; ${await rowCount(table)} rows by ${JSON.stringify([...(await writers(table))])}\n${await diagnose(input, [...running.values()])}`,
      )
    }
    let produced = 0
    /** Produces `n` more events and waits until `k` more windows are in the table. */
    const produceAndProgress = async (n: number, k: number) => {
      const target = (await rowCount(table)) + k
      await produceEvents(input, produced, produced + n, PARTITIONS)
      produced += n
      await waitFor(async () => (await rowCount(table)) >= target, 120_000, `${target} windows`).catch(
        explain,
      )
    }
    try {
      await start('m1')
      await produceAndProgress(5000, 50)
      await start('m2')
      await start('m3')
      await waitForMembers(input, 3).catch(explain)
      // Input until all three write windows (a cooperative rebalance gives the newcomers their partitions in a
      // second round).
      for (;;) {
        const rows = await writers(table)
        if (['m1', 'm2', 'm3'].every((name) => emittedBy(rows, name) > 0)) break
        assert.ok(produced < 100_000, `all three write within 100,000 inputs: ${JSON.stringify([...rows])}`)
        await produceAndProgress(3000, 30)
      }
      t.diagnostic(`1 → 3 after ${Math.round((Date.now() - started) / 1000)} s`)
      // Mid-run, with windows of its partitions open in its state; its replacement (the same member id, so
      // given its partitions back at once) starts with nothing on disk and restores them from the database.
      await kill('m2')
      await start('m2')
      await produceAndProgress(5000, 50)
      await waitFor(() => restoredRows(running.get('m2')!).length > 0, 60_000, 'm2 to restore').catch(explain)
      assert.ok(
        restoredRows(running.get('m2')!).some((rows) => rows > 0),
        `the replacement restored state from the database: ${restoredRows(running.get('m2')!).join(', ')}`,
      )
      // For good: the others take its partitions after its session timeout, their state from the database.
      const saidBefore = new Map([...running].map(([name, i]) => [name, i.stderr().length]))
      await kill('m3')
      await produceEvents(input, produced, produced + 5000, PARTITIONS)
      produced += 5000
      await produceClosers(input, produced - 1, PARTITIONS)
      const expected = reference(produced)
      await waitFor(
        async () => (await rowCount(table)) >= expected.size,
        150_000,
        `all ${expected.size} windows`,
      ).catch(explain)
      await groupCommittedAll(input)
      t.diagnostic(
        `${produced} inputs, ${expected.size} windows, in ${Math.round((Date.now() - started) / 1000)} s`,
      )
      const rows = await db.query<WindowRow>(`SELECT \`key\`, window_start, value FROM \`${table}\``)
      assertCellsExact(windowCells(rows), expected, 'in MariaDB')
      assert.equal(rows.length, expected.size)
      // m1 and m2 took m3's partitions over, with their state from the database.
      const takenOver = [...running].flatMap(([name, i]) =>
        [...i.stderr().slice(saidBefore.get(name)).matchAll(RESTORED)].map((m) => Number(m[1])),
      )
      assert.ok(
        takenOver.some((rows) => rows > 0),
        `m3's partitions restored from the database: ${takenOver.join(', ')}`,
      )
      const deadLetters = await db.query('SELECT reason FROM sluice_dead_letters LIMIT 3')
      assert.deepEqual(deadLetters, [], 'no row refused')
    } finally {
      for (const name of [...running.keys()]) await kill(name)
    }
  })
})
