import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { useMariaDb } from '../connectors/mysql/util.ts'
import { diagnose, type Instance, produceIds, startInstance, waitForMembers } from '../helpers/instances.ts'
import { freshTopic } from '../helpers/kafka.ts'
import { waitFor } from '../helpers/wait.ts'
import { assertRowsExactlyOnce, type IdRow, tempDir } from './scale-out-fixture.ts'

/**
 * Two instances of one stateless pipeline from Kafka into one MariaDB table: each commits its own partitions'
 * positions in its database transactions (a row per partition in sluice_offsets_partitions), so an instance
 * killed mid-batch loses nothing and the one that takes its partitions over writes nothing twice. The table
 * is compared by content with the input.
 */

const PARTITIONS = 6
const db = useMariaDb()

async function rows(table: string): Promise<number> {
  const counted = await db
    .query<{ n: number }>(`SELECT COUNT(*) AS n FROM \`${table}\``)
    .catch((error: { errno?: number }) => {
      if (error.errno === 1146) return [{ n: 0 }] // not created yet
      throw error
    })
  return Number(counted[0]!.n)
}

async function writers(table: string): Promise<Map<string, number>> {
  const counted = await db
    .query<{ by: string; n: number }>(`SELECT \`by\`, COUNT(*) AS n FROM \`${table}\` GROUP BY \`by\``)
    .catch(() => [])
  return new Map(counted.map((r) => [r.by, Number(r.n)]))
}

/** Per partition: the position its row holds and the instance that committed it last. */
async function positions(): Promise<string> {
  const stored = await db
    .query<{ partition: string; position: number | null; instance: string | null }>(
      'SELECT `partition`, position, instance FROM sluice_offsets_partitions ORDER BY `partition`',
    )
    .catch((error: unknown) => [{ partition: String(error), position: null, instance: null }])
  return stored.map((r) => `${r.partition}@${r.position} by ${r.instance}`).join(', ')
}

/** Every partition's row at the end of the `produced` inputs: no instance has anything left to write. */
async function allCommitted(input: string, produced: number): Promise<boolean> {
  const stored = await db
    .query<{ partition: string; position: number }>(
      'SELECT `partition`, position FROM sluice_offsets_partitions WHERE position IS NOT NULL',
    )
    .catch(() => [])
  const at = new Map(stored.map((r) => [r.partition, Number(r.position)]))
  for (let p = 0; p < PARTITIONS; p++) {
    const inputs = Math.floor(produced / PARTITIONS) + (p < produced % PARTITIONS ? 1 : 0)
    if (at.get(`${input}:${p}`) !== inputs) return false
  }
  return true
}

describe('a stateless pipeline into MariaDB scaled out over two instances', () => {
  test('one instance SIGKILLed mid-run, the other takes its partitions over, it comes back: every input one row', {
    timeout: 300_000,
  }, async (t) => {
    // The instances (child processes) take the database from their environment.
    process.env.SINK_MYSQL_URL = db.server.url
    const input = await freshTopic('scale-my-in', PARTITIONS)
    const table = `scaled_${input.replaceAll('-', '_')}`
    const checkpoints = { m1: await tempDir(), m2: await tempDir() }
    const running = new Map<string, Instance>()
    const start = (name: 'm1' | 'm2') =>
      running.set(name, startInstance('stateless-mysql', name, input, table, checkpoints[name], 'info'))
    const explain = async (error: unknown): Promise<never> => {
      throw new Error(
        `${error}; ${await rows(table)} rows; positions ${await positions()}\n${await diagnose(input, [...running.values()])}`,
      )
    }
    let produced = 0
    const produce = async (n: number) => {
      await produceIds(input, produced, produced + n, PARTITIONS)
      produced += n
    }
    try {
      start('m1')
      start('m2')
      // Both own partitions before any input arrives, so both write.
      await waitForMembers(input, 2)
      await produce(60_000)
      await waitFor(
        async () => {
          const by = await writers(table)
          return (by.get('m1') ?? 0) >= 2000 && (by.get('m2') ?? 0) >= 2000
        },
        120_000,
        'both instances writing',
      ).catch(explain)
      // Killed with the input half written: likely inside a batch's transaction, which the server rolls back.
      const victim = running.get('m1')!
      victim.child.kill('SIGKILL')
      await victim.exited
      running.delete('m1')
      const atKill = await rows(table)
      t.diagnostic(`m1 killed with ${atKill} of ${produced} inputs written`)
      assert.ok(atKill < produced, 'killed mid-run, input left to write')
      await produce(10_000)
      // m2 takes m1's partitions after its session timeout, from where their rows say m1 committed them.
      await waitFor(
        async () => (await rows(table)) >= produced,
        180_000,
        `all ${produced} inputs by m2`,
      ).catch(explain)
      const before = (await writers(table)).get('m1') ?? 0
      start('m1')
      await waitForMembers(input, 2)
      await produce(10_000)
      await waitFor(() => allCommitted(input, produced), 180_000, `all ${produced} inputs committed`).catch(
        explain,
      )
      const all = await db.query<IdRow>(`SELECT id, \`key\`, \`by\` FROM \`${table}\``)
      const by = assertRowsExactlyOnce(all, produced)
      assert.ok((by.get('m2') ?? 0) > 0 && before > 0, `both instances wrote: ${JSON.stringify([...by])}`)
      const deadLetters = await db.query('SELECT reason FROM sluice_dead_letters LIMIT 3')
      assert.deepEqual(deadLetters, [], 'no row refused')
    } finally {
      for (const instance of running.values()) instance.child.kill('SIGKILL')
      await Promise.all([...running.values()].map((i) => i.exited))
    }
  })
})
