import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { KafkaAdmin } from '../../src/connectors/kafka/admin.ts'
import { fixtureGroup, type Instance, produceIds, settle, startInstance } from '../helpers/instances.ts'
import { brokers, freshTopic } from '../helpers/kafka.ts'
import { waitFor } from '../helpers/wait.ts'
import { assertExactlyOnce, OutputReader, PARTITIONS, perPartition, tempDir } from './scale-out-fixture.ts'

describe('a stateless pipeline scaled out over several instances', () => {
  test('an instance joining while another works through a backlog: every input once', {
    timeout: 240_000,
  }, async () => {
    const input = await freshTopic('join-in', PARTITIONS)
    const output = await freshTopic('join-out', 3)
    const reader = new OutputReader(output)
    const first = startInstance('stateless', 'j1', input, output, await tempDir())
    let second: Instance | undefined
    try {
      // A backlog, so that the first has a batch in flight whenever the second joins.
      const produced = 150_000
      await produceIds(input, 0, produced, PARTITIONS)
      await waitFor(() => reader.ids.length >= 2000, 120_000, 'the first instance to write')
      // Joins while the first commits: the group moves to a new generation mid-commit.
      second = startInstance('stateless', 'j2', input, output, await tempDir())
      await waitFor(() => reader.ids.length >= produced, 180_000, `all ${produced} inputs written`)
      assert.ok((reader.writers.get('j2') ?? 0) > 0, 'the second instance shared the input')
      await settle(input, output, (end) => reader.readThrough(end))
      assertExactlyOnce(reader.ids, produced)
    } finally {
      first.child.kill('SIGKILL')
      second?.child.kill('SIGKILL')
      await Promise.all([first.exited, second?.exited])
      await reader.close()
    }
  })

  test('a zombie (SIGSTOP past its session timeout) is fenced when it wakes: every input once', {
    timeout: 360_000,
  }, async () => {
    const input = await freshTopic('zombie-in', PARTITIONS)
    const output = await freshTopic('zombie-out', 3)
    const reader = new OutputReader(output)
    const a = startInstance('stateless', 'z1', input, output, await tempDir())
    const b = startInstance('stateless', 'z2', input, output, await tempDir())
    try {
      // Input in small chunks until both write: one instance may have read a first chunk alone before the
      // other joined.
      let produced = 0
      while (!((reader.writers.get('z1') ?? 0) > 0 && (reader.writers.get('z2') ?? 0) > 0)) {
        assert.ok(produced < 40_000, 'both instances write within 40,000 inputs')
        await produceIds(input, produced, produced + 2000, PARTITIONS)
        produced += 2000
        await waitFor(() => reader.ids.length >= produced, 120_000, `${produced} inputs written`)
      }
      // Frozen, likely with a batch in flight; the session timeout (10 s) passes and z2 takes its partitions.
      a.child.kill('SIGSTOP')
      await produceIds(input, produced, produced + 20_000, PARTITIONS)
      produced += 20_000
      await waitFor(() => reader.ids.length >= produced, 120_000, 'z2 to write everything').catch(
        async (error) => {
          const said = b
            .stderr()
            .split('\n')
            .filter((l) => !l.includes('"batchId"') || l.includes('"level":40') || l.includes('"level":50'))
          const admin = new KafkaAdmin({ brokers: brokers() })
          const group = fixtureGroup(input)
          const state = JSON.stringify(
            {
              group: await admin.describeGroup(group).catch((e) => String(e)),
              lag: await admin.groupLag(group, input).catch((e) => String(e)),
              outEnd: [...(await admin.offsets(output))],
            },
            (_k, v) => (typeof v === 'bigint' ? Number(v) : v),
          )
          await admin.close()
          throw new Error(
            `${error}; ${state}; read ${reader.ids.length}; per partition: ${JSON.stringify(perPartition(reader, produced))}; z2 said: ${said.join('\n').slice(-6000)}`,
          )
        },
      )
      a.child.kill('SIGCONT')
      await produceIds(input, produced, produced + 10_000, PARTITIONS)
      produced += 10_000
      await waitFor(() => reader.ids.length >= produced, 120_000, 'all inputs after the zombie woke')
      await settle(input, output, (end) => reader.readThrough(end))
      assertExactlyOnce(reader.ids, produced)
    } finally {
      a.child.kill('SIGKILL')
      b.child.kill('SIGKILL')
      await Promise.all([a.exited, b.exited])
      await reader.close()
    }
  })
})
