import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { diagnose, type Instance, settle, startInstance, waitForMembers } from '../helpers/instances.ts'
import { freshTopic } from '../helpers/kafka.ts'
import { waitFor } from '../helpers/wait.ts'
import {
  assertWindowsExact,
  missingWindows,
  PARTITIONS,
  produceClosers,
  produceEvents,
  reference,
  tempDir,
  WindowReader,
} from './scale-out-stateful-fixture.ts'

describe('a stateful pipeline scaled out over several instances', () => {
  // A zombie woken after its session timeout lost its membership: the client empties its assignment and
  // rejoins, and may be given the same partitions back after the other instance processed and committed
  // them meanwhile. Before each ownership was tracked, the zombie went on from where it had read and with the
  // state it held (duplicate windows, committed under its new generation) in 4 of 5 runs.
  test('a zombie (SIGSTOP past its session timeout) is fenced when it wakes: every window once and exact', {
    timeout: 360_000,
  }, async () => {
    const input = await freshTopic('state-zombie-in', PARTITIONS)
    const output = await freshTopic('state-zombie-out', 3)
    const reader = new WindowReader(output)
    const a = startInstance('scaled-stateful', 'z1', input, output, await tempDir(), 'info')
    const b = startInstance('scaled-stateful', 'z2', input, output, await tempDir(), 'info')
    const emittedBy = (name: string) =>
      [...reader.writers].filter(([by]) => by.startsWith(`${name}/`)).reduce((n, [, k]) => n + k, 0)
    try {
      await waitForMembers(input, 2)
      // Input until both emit windows.
      let produced = 0
      // Small chunks until both emit: a cooperative rebalance gives the second its partitions in a second
      // round, after the first let them go, which a group that looks stable may not have finished.
      while (!(emittedBy('z1') > 0 && emittedBy('z2') > 0)) {
        assert.ok(produced < 200_000, 'both instances emit within 200,000 inputs')
        await produceEvents(input, produced, produced + 2000)
        produced += 2000
        const target = reader.rows + 100
        await waitFor(() => reader.rows >= target, 120_000, 'windows of the new input')
      }
      // Frozen, its tasks' state in memory; z2 takes its partitions after the session timeout (10 s) and
      // restores them from the changelog.
      a.child.kill('SIGSTOP')
      await produceEvents(input, produced, produced + 10_000)
      produced += 10_000
      const before = emittedBy('z2')
      await waitFor(() => emittedBy('z2') >= before + 1000, 180_000, 'z2 to take over and emit')
      // Awake: its next commit is fenced, it restarts and rejoins.
      a.child.kill('SIGCONT')
      await produceEvents(input, produced, produced + 5000)
      produced += 5000
      await produceClosers(input, produced - 1)
      const expected = reference(produced)
      await waitFor(
        () => reader.rows >= expected.size,
        240_000,
        `all ${expected.size} windows emitted`,
      ).catch(async (error) => {
        throw new Error(
          `${error}; ${reader.rows} emitted; missing ${missingWindows(reader, expected)}\n${await diagnose(input, [a, b])}`,
        )
      })
      await settle(input, output, (end) => reader.readThrough(end))
      assertWindowsExact(reader, expected)
    } finally {
      a.child.kill('SIGKILL')
      b.child.kill('SIGKILL')
      await Promise.all([a.exited, b.exited])
      await reader.close()
    }
  })

  test('an instance with an empty state directory restores from the changelog; a clean restart uses its local store', {
    timeout: 300_000,
  }, async () => {
    const input = await freshTopic('restore-in', PARTITIONS)
    const output = await freshTopic('restore-out', 3)
    const reader = new WindowReader(output)
    const instances: Instance[] = []
    try {
      let produced = 0
      await produceEvents(input, 0, 20_000)
      produced = 20_000
      const first = startInstance('scaled-stateful', 'r1', input, output, await tempDir(), 'info')
      instances.push(first)
      await waitFor(() => reader.rows >= 1000, 120_000, 'the first instance to emit windows')
      first.child.kill('SIGKILL')
      await first.exited
      // Same instance name, nothing on disk: every task restores from the changelog topics.
      const dir = await tempDir()
      const second = startInstance('scaled-stateful', 'r1', input, output, dir, 'info')
      instances.push(second)
      await waitFor(
        () => /rows from the changelog/.test(second.stderr()),
        120_000,
        'the second instance to restore its tasks',
      )
      const restored = [...second.stderr().matchAll(/, (\d+) rows from the changelog\)/g)].map((m) =>
        Number(m[1]),
      )
      assert.ok(
        restored.some((rows) => rows > 0),
        `state came from the changelog: ${restored.join(', ')}`,
      )
      await produceEvents(input, produced, produced + 10_000)
      produced += 10_000
      await waitFor(() => reader.rows >= 2000, 120_000, 'the second instance to emit windows')
      // A clean stop commits the local stores: the restart restores every task from them.
      second.child.kill('SIGTERM')
      await second.exited
      const third = startInstance('scaled-stateful', 'r1', input, output, dir, 'info')
      instances.push(third)
      await produceEvents(input, produced, produced + 10_000)
      produced += 10_000
      await produceClosers(input, produced - 1)
      const expected = reference(produced)
      await waitFor(() => reader.rows >= expected.size, 180_000, `all ${expected.size} windows emitted`)
      await settle(input, output, (end) => reader.readThrough(end))
      assertWindowsExact(reader, expected)
      const local = [...third.stderr().matchAll(/restored (\d+) task\(s\) \((\d+) from the local store/g)]
      assert.ok(
        local.some((m) => Number(m[2]) > 0),
        `the restart used its local stores: ${local.map((m) => m[0]).join('; ')}`,
      )
    } finally {
      for (const i of instances) i.child.kill('SIGKILL')
      await Promise.all(instances.map((i) => i.exited))
      await reader.close()
    }
  })
})
