import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { console as consoleSink, kafka, pipeline } from '../../src/index.ts'
import type { Snapshot } from '../../src/ui/dashboard-state.ts'
import { startMonitor } from '../../src/ui/monitor.ts'
import { PARTITIONS, tempDir } from '../engine/scale-out-fixture.ts'
import { type Instance, produceIds, startInstance } from '../helpers/instances.ts'
import { brokers, freshTopic } from '../helpers/kafka.ts'
import { waitFor } from '../helpers/wait.ts'

/**
 * The group view of a scaled-out pipeline, as the dashboard and /metrics show it: two instances of the
 * stateless fixture (test/fixtures/crash-pipeline.ts) in one consumer group, watched by a monitor that only
 * describes the pipeline (it runs nothing itself: the view comes from the broker).
 */

async function snapshot(url: string): Promise<Snapshot> {
  return (await (await fetch(`${url}api/snapshot`)).json()) as Snapshot
}

describe('the group view', () => {
  test('lists both instances with disjoint partitions covering the topic, and the lag per partition going to 0; /metrics exports it', {
    timeout: 240_000,
  }, async () => {
    const input = await freshTopic('group-view-in', PARTITIONS)
    const output = await freshTopic('group-view-out', 3)
    const produced = 12_000
    await produceIds(input, 0, produced, PARTITIONS)
    // The fixture's pipeline id and group (sluice-crash-test-<input>); its sink does not matter to the view.
    const id = `crash-test-${input}`
    const described = pipeline(id)
      .from(kafka({ topics: input, brokers: brokers() }))
      .to(consoleSink())
    const monitor = await startMonitor({
      port: 0,
      pipelines: [described],
      processMetrics: false,
      group: { refreshMs: 300 },
    })
    const instances: Instance[] = []
    try {
      // Before any instance: nobody owns a partition, and the group has all of the input still to read.
      await waitFor(
        async () => {
          const group = (await snapshot(monitor.url)).pipelines.find((p) => p.id === id)?.group
          return (
            group?.error === null &&
            group.partitions.length === PARTITIONS &&
            group.partitions.every((p) => p.owner === null && p.committed === null) &&
            group.partitions.reduce((n, p) => n + p.lag, 0) === produced
          )
        },
        60_000,
        `the view of an empty group with ${produced} records to read`,
      )

      for (const name of ['gv-a', 'gv-b'])
        instances.push(startInstance('stateless', name, input, output, await tempDir()))
      const all = Array.from({ length: PARTITIONS }, (_, p) => `${input}:${p}`)
      let last: Snapshot | undefined
      await waitFor(
        async () => {
          last = await snapshot(monitor.url)
          const group = last.pipelines.find((p) => p.id === id)?.group
          if (!group || group.error !== null || group.members.length !== 2) return false
          const owned = group.members.flatMap((m) => m.partitions)
          return (
            group.members.every((m) => m.partitions.length > 0) &&
            new Set(owned).size === owned.length &&
            [...owned].sort().join() === [...all].sort().join() &&
            group.partitions.every((p) => p.lag === 0 && p.committed === p.end && p.owner !== null)
          )
        },
        180_000,
        'two members sharing every partition, and no lag',
      ).catch((error: unknown) => {
        const group = last?.pipelines.find((p) => p.id === id)?.group
        throw new Error(`${String(error)}; last view: ${JSON.stringify(group)}`)
      })
      const group = last!.pipelines.find((p) => p.id === id)!.group!
      assert.deepEqual(
        group.members.map((m) => m.instance),
        ['gv-a', 'gv-b'],
      )
      for (const m of group.members) {
        assert.equal(typeof m.pid, 'number', 'the pid from the member plan')
        assert.ok(m.host.length > 0)
        // Each partition's owner is the member it is assigned to.
        for (const p of m.partitions)
          assert.equal(group.partitions.find((x) => x.partition === p)?.owner, m.instance)
      }
      assert.equal(
        group.partitions.reduce((n, p) => n + (p.end ?? 0), 0),
        produced,
        'end offsets sum to the input',
      )

      // /metrics: a lag series per partition labelled with its owner, and the tasks per instance.
      await waitFor(
        async () => {
          const text = await (await fetch(`${monitor.url}metrics`)).text()
          const lag = [...text.matchAll(/^sluice_group_partition_lag_records\{(.*)\} (\d+)$/gm)].filter((m) =>
            m[1]!.includes(`pipeline="${id}"`),
          )
          const tasks = [
            ...text.matchAll(/^sluice_group_tasks\{pipeline="([^"]+)",instance="([^"]+)"\} (\d+)$/gm),
          ]
            .filter((m) => m[1] === id)
            .map((m) => [m[2], Number(m[3])] as const)
          const owners = new Map(group.partitions.map((p) => [p.partition, p.owner]))
          return (
            lag.length === PARTITIONS &&
            lag.every((m) => {
              const partition = /partition="([^"]+)"/.exec(m[1]!)?.[1] ?? ''
              return m[2] === '0' && m[1]!.includes(`owner="${owners.get(partition)}"`)
            }) &&
            tasks.length === 2 &&
            tasks.every(([, n]) => n > 0) &&
            tasks.reduce((n, [, t]) => n + t, 0) === PARTITIONS &&
            new RegExp(`^sluice_group_members\\{pipeline="${id}"\\} 2$`, 'm').test(text)
          )
        },
        30_000,
        'the group series on /metrics',
      )
    } finally {
      for (const i of instances) i.child.kill('SIGKILL')
      await Promise.all(instances.map((i) => i.exited))
      await monitor.close()
    }
  })
})
