import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { diagnose, type Instance, seeded, settle, startInstance } from '../helpers/instances.ts'
import { freshTopic } from '../helpers/kafka.ts'
import { waitFor } from '../helpers/wait.ts'
import { tableCells } from './scale-out-postgres-db.ts'
import {
  assertCellsExact,
  assertWindowsExact,
  missingWindows,
  PARTITIONS,
  produceClosers,
  produceEvents,
  reference,
  tempDir,
  WindowReader,
} from './scale-out-stateful-fixture.ts'

/** 70,000 by default; the soak run (README, "Tests") sets 500,000. Produced in 7 chunks. */
const EVENTS = Number(process.env.SLUICE_SOAK_EVENTS ?? 70_000)
/** Time limits grow with the input. */
const SCALE = Math.max(1, EVENTS / 70_000)

describe('a stateful pipeline scaled out over several instances', () => {
  test(`instances join, are SIGKILLed and replaced, and leave (1 → 3 → 2) while ${EVENTS} inputs arrive: every window once and exact`, {
    timeout: 420_000 * SCALE,
  }, async () => {
    const input = await freshTopic('scale-state-in', PARTITIONS)
    const output = await freshTopic('scale-state-out', 3)
    const reader = new WindowReader(output)
    // A stateless pipeline loads the windows into PostgreSQL as they are committed (killed once, too).
    const table = `windows_${input.replaceAll('-', '_')}`
    let loader = startInstance('windows-postgres', 'l1', output, table, await tempDir(), 'info')
    const checkpoints = new Map<string, string>()
    const running = new Map<string, Instance>()
    const start = async (name: string) => {
      if (!checkpoints.has(name)) checkpoints.set(name, await tempDir())
      running.set(name, startInstance('scaled-stateful', name, input, output, checkpoints.get(name)!, 'info'))
    }
    const kill = async (name: string) => {
      const instance = running.get(name)!
      instance.child.kill('SIGKILL')
      await instance.exited
      running.delete(name)
    }
    const random = seeded(1717)
    const CHUNK = Math.ceil(EVENTS / 7)
    let produced = 0
    const produceChunk = async () => {
      await produceEvents(input, produced, produced + CHUNK)
      produced += CHUNK
    }
    /** Waits until `k` more windows were emitted (the instances are working). */
    const progress = async (k: number) => {
      const target = reader.rows + k
      await waitFor(() => reader.rows >= target, 120_000, `${target} windows emitted`).catch(
        async (error) => {
          throw new Error(`${error}; ${reader.rows} emitted\n${await diagnose(input, [...running.values()])}`)
        },
      )
    }
    try {
      await start('s1')
      await produceChunk()
      await progress(200)
      await start('s2')
      await start('s3')
      for (let round = 0; round < 4; round++) {
        await produceChunk()
        await progress(100 + Math.floor(random() * 800))
        const victim = [...running.keys()][Math.floor(random() * running.size)]!
        await kill(victim)
        await start(victim)
      }
      await kill([...running.keys()][Math.floor(random() * running.size)]!)
      loader.child.kill('SIGKILL')
      await loader.exited
      loader = startInstance('windows-postgres', 'l1', output, table, await tempDir(), 'info')
      for (let round = 0; round < 2; round++) {
        await produceChunk()
        await progress(200)
      }
      await produceClosers(input, produced - 1)
      const expected = reference(produced)
      await waitFor(
        () => reader.rows >= expected.size,
        240_000 * SCALE,
        `all ${expected.size} windows emitted`,
      ).catch(async (error) => {
        throw new Error(
          `${error}; ${reader.rows} emitted; missing ${missingWindows(reader, expected)}\n${await diagnose(input, [...running.values()])}`,
        )
      })
      await settle(input, output, (end) => reader.readThrough(end))
      assertWindowsExact(reader, expected)
      assert.ok(reader.writers.size >= 3, `instances shared the work: ${JSON.stringify([...reader.writers])}`)
      // The database has every window once, as the reference says.
      let rows = new Map<string, number[]>()
      await waitFor(
        async () => {
          rows = await tableCells(table)
          return [...rows.values()].reduce((n, v) => n + v.length, 0) >= expected.size
        },
        120_000 * SCALE,
        `all ${expected.size} windows in PostgreSQL`,
      )
      assertCellsExact(rows, expected, 'in PostgreSQL')
      assert.equal(
        [...rows.values()].reduce((n, v) => n + v.length, 0),
        expected.size,
      )
    } finally {
      for (const name of [...running.keys()]) await kill(name)
      loader.child.kill('SIGKILL')
      await loader.exited
      await reader.close()
    }
  })
})
