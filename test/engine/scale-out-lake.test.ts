import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { committedPartitions } from '../../src/connectors/lake/log.ts'
import { logEntries, readTable, visibleDataFiles } from '../connectors/lake/helpers.ts'
import { diagnose, type Instance, produceIds, startInstance, waitForMembers } from '../helpers/instances.ts'
import { freshTopic } from '../helpers/kafka.ts'
import { waitFor } from '../helpers/wait.ts'
import { assertRowsExactlyOnce, type IdRow, tempDir } from './scale-out-fixture.ts'

/**
 * Instances of one stateless pipeline from Kafka into one Parquet lake table: each is a writer of its own
 * whose log entries commit its partitions' positions, read by whichever instance is assigned a partition
 * next. Instances join, one is SIGKILLed mid-run and replaced, then comes back; another is frozen past its
 * session timeout and wakes (a zombie, fenced by the log when it commits). Each time the table, read with the
 * lake reader, holds every input once.
 */

const PARTITIONS = 6

/** Rows committed per instance (the writer is `<pipeline id>@<instance>`). */
async function rowsBy(table: string): Promise<Map<string, number>> {
  const by = new Map<string, number>()
  for (const entry of await logEntries(table)) {
    const instance = entry.writer.slice(entry.writer.lastIndexOf('@') + 1)
    by.set(instance, (by.get(instance) ?? 0) + entry.rows)
  }
  return by
}

/** Per partition: the position the newest entry committing it left. */
async function positions(table: string): Promise<Map<string, number>> {
  const entries = (await logEntries(table)).sort((a, b) => a.version - b.version)
  const at = new Map<string, number>()
  for (const entry of entries)
    for (const [partition, position] of committedPartitions(entry))
      if (position !== undefined) at.set(partition, position)
  return at
}

/** Every partition committed to the end of the `produced` inputs: no instance has anything left to write. */
async function allCommitted(table: string, input: string, produced: number): Promise<boolean> {
  const at = await positions(table)
  for (let p = 0; p < PARTITIONS; p++) {
    const inputs = Math.floor(produced / PARTITIONS) + (p < produced % PARTITIONS ? 1 : 0)
    if (at.get(`${input}:${p}`) !== inputs) return false
  }
  return true
}

describe('a stateless pipeline into one lake table scaled out over instances', () => {
  test('two instances, one SIGKILLed mid-run and replaced by a third, then back: every input one row', {
    timeout: 300_000,
  }, async (t) => {
    const input = await freshTopic('scale-lake-in', PARTITIONS)
    const table = join(await tempDir(), 'table')
    const checkpoints = { l1: await tempDir(), l2: await tempDir(), l3: await tempDir() }
    const running = new Map<string, Instance>()
    const start = (name: 'l1' | 'l2' | 'l3') =>
      running.set(name, startInstance('stateless-lake', name, input, table, checkpoints[name], 'info'))
    const explain = async (error: unknown): Promise<never> => {
      throw new Error(
        `${error}; rows by instance ${JSON.stringify([...(await rowsBy(table))])}; positions ${JSON.stringify([...(await positions(table))])}\n${await diagnose(input, [...running.values()])}`,
      )
    }
    let produced = 0
    const produce = async (n: number) => {
      await produceIds(input, produced, produced + n, PARTITIONS)
      produced += n
    }
    const committed = (what: string) =>
      waitFor(() => allCommitted(table, input, produced), 180_000, what).catch(explain)
    try {
      start('l1')
      start('l2')
      await waitForMembers(input, 2)
      await produce(40_000)
      await waitFor(
        async () => {
          const by = await rowsBy(table)
          return (by.get('l1') ?? 0) >= 2000 && (by.get('l2') ?? 0) >= 2000
        },
        120_000,
        'both instances writing',
      ).catch(explain)
      // Killed with input left to write: likely with a batch staged, or committed but not yet renamed.
      const victim = running.get('l1')!
      victim.child.kill('SIGKILL')
      await victim.exited
      running.delete('l1')
      const atKill = await rowsBy(table)
      t.diagnostic(`l1 killed with ${JSON.stringify([...atKill])} of ${produced} inputs written`)
      // A third instance joins; l1's partitions reach it or l2 once its session times out.
      start('l3')
      await produce(10_000)
      await committed(`all ${produced} inputs committed by l2 and l3`)
      // l1 comes back under its name: it recovers what it left and shares the input again.
      start('l1')
      await waitForMembers(input, 3)
      await produce(10_000)
      await committed(`all ${produced} inputs committed by the three`)

      const rows = (await readTable(table)) as unknown as IdRow[]
      const by = assertRowsExactlyOnce(rows, produced)
      t.diagnostic(`rows by instance ${JSON.stringify([...by])}`)
      assert.ok((atKill.get('l1') ?? 0) > 0 && (by.get('l3') ?? 0) > 0, 'l1 wrote before its kill, l3 after')
      // Nothing a killed batch staged is left in the table's folders: every data file is a committed one.
      const listed = (await logEntries(table)).flatMap((e) => e.files.map((f) => f.path)).sort()
      assert.deepEqual(await visibleDataFiles(table), listed)
    } finally {
      for (const instance of running.values()) instance.child.kill('SIGKILL')
      await Promise.all([...running.values()].map((i) => i.exited))
    }
  })

  // This case once lost records in about 1 run of 3: when z1's partitions came back to z2, z2's consumer
  // handed out the records its buffer still held from its first ownership of them (read ahead past the
  // committed offset) as the start of the second. test/connectors/kafka-cooperative.test.ts has it without
  // the lake.
  test('a zombie (SIGSTOP past its session timeout) wakes after the other took its partitions: every input one row', {
    timeout: 300_000,
  }, async (t) => {
    const input = await freshTopic('zombie-lake-in', PARTITIONS)
    const table = join(await tempDir(), 'table')
    const a = startInstance('stateless-lake', 'z1', input, table, await tempDir(), 'info')
    const b = startInstance('stateless-lake', 'z2', input, table, await tempDir(), 'info')
    const explain = async (error: unknown): Promise<never> => {
      throw new Error(
        `${error}; rows by instance ${JSON.stringify([...(await rowsBy(table))])}; positions ${JSON.stringify([...(await positions(table))])}\n${await diagnose(input, [a, b])}`,
      )
    }
    let produced = 0
    const produce = async (n: number) => {
      await produceIds(input, produced, produced + n, PARTITIONS)
      produced += n
    }
    try {
      await waitForMembers(input, 2)
      // A backlog, so that z1 is likely inside a batch when it is frozen.
      await produce(40_000)
      await waitFor(
        async () => {
          const by = await rowsBy(table)
          return (by.get('z1') ?? 0) >= 2000 && (by.get('z2') ?? 0) >= 2000
        },
        120_000,
        'both instances writing',
      ).catch(explain)
      a.child.kill('SIGSTOP')
      await produce(10_000)
      // z2 takes z1's partitions once its session times out (10 s), from where the table has them.
      await waitFor(() => allCommitted(table, input, produced), 180_000, 'z2 to write everything').catch(
        explain,
      )
      a.child.kill('SIGCONT')
      await produce(10_000)
      await waitFor(() => allCommitted(table, input, produced), 180_000, 'all inputs after z1 woke').catch(
        explain,
      )
      const rows = (await readTable(table)) as unknown as IdRow[]
      const by = assertRowsExactlyOnce(rows, produced)
      // Frozen inside a batch (likely, not certain), z1 commits it on waking and is fenced by the log.
      const fenced = a.stderr().includes('took the partition over and committed it')
      t.diagnostic(`rows by instance ${JSON.stringify([...by])}; z1 fenced on waking: ${fenced}`)
    } finally {
      a.child.kill('SIGKILL')
      b.child.kill('SIGKILL')
      await Promise.all([a.exited, b.exited])
    }
  })
})
