import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { KafkaProducer } from '../../src/connectors/kafka/producer.ts'
import type { Snapshot } from '../../src/ui/dashboard-state.ts'
import { runCli, startCli } from '../helpers/cli.ts'
import { brokers, freshTopic, readUntilQuiet } from '../helpers/kafka.ts'
import { waitFor } from '../helpers/wait.ts'

/**
 * `sluice run --workers N`: N processes of a pipeline that can scale out share its input (one consumer group);
 * a pipeline that cannot is refused with the reason, before anything starts.
 */

let dir: string
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-workers-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('sluice run --workers', () => {
  test('two workers of a stateless pipeline share the input and write each record once', async () => {
    const input = await freshTopic('workers-in', 6)
    const output = await freshTopic('workers-out', 2)
    const N = 30_000
    const producer = new KafkaProducer({ brokers: brokers() })
    try {
      for (let i = 0; i < N; i += 5000)
        await producer.send(
          Array.from({ length: 5000 }, (_, k) => ({
            topic: input,
            key: `k${i + k}`,
            value: JSON.stringify({ id: i + k, n: (i + k) % 7 }),
            partition: (i + k) % 6,
          })),
        )
    } finally {
      await producer.close()
    }
    const file = join(dir, 'etl.yaml')
    await writeFile(
      file,
      `pipeline: workers-${randomUUID().slice(0, 8)}\nsource: { kafka: { topics: ${input} } }\nsteps:\n  - map: { id: event.id, n: event.n }\nsink: { kafka: { topic: ${output} } }\n`,
    )
    const result = await runCli(
      [
        'run',
        file,
        '--workers',
        '2',
        '--available-now',
        '--checkpoint',
        join(dir, 'ckpt'),
        '--brokers',
        brokers(),
      ],
      { timeoutMs: 120_000 },
    )
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stderr, /2 workers/)
    const ids = (await readUntilQuiet(output, N)).map(
      (r) => (JSON.parse(String(r.value)) as { id: number }).id,
    )
    assert.equal(new Set(ids).size, ids.length, 'no duplicates')
    assert.equal(ids.length, N, 'every input written')
    // One summary for the pipeline, counting both workers' input.
    const summary = /workers-\w+: (\d+) records in/.exec(result.stderr)
    assert.ok(summary, result.stderr)
    assert.equal(Number(summary[1]), N)
    // The supervisor's status line for both workers; the workers print no log lines of their own.
    assert.match(result.stderr, /^workers-\w+ {2}\S/m)
    assert.deepEqual(
      result.stderr.split('\n').filter((l) => l.startsWith('{')),
      [],
      'no log lines without --log-level',
    )
  })

  test('with --ui the supervisor serves one dashboard for the group: both workers, their partitions, the input they read', {
    timeout: 180_000,
  }, async () => {
    const input = await freshTopic('workers-ui-in', 6)
    const output = await freshTopic('workers-ui-out', 2)
    const N = 6000
    const producer = new KafkaProducer({ brokers: brokers() })
    try {
      await producer.send(
        Array.from({ length: N }, (_, i) => ({
          topic: input,
          key: `k${i}`,
          value: JSON.stringify({ id: i }),
          partition: i % 6,
        })),
      )
    } finally {
      await producer.close()
    }
    const id = `workers-ui-${randomUUID().slice(0, 8)}`
    const file = join(dir, 'ui.yaml')
    await writeFile(
      file,
      `pipeline: ${id}\nsource: { kafka: { topics: ${input} } }\nsteps:\n  - map: { id: event.id }\nsink: { kafka: { topic: ${output} } }\n`,
    )
    const cli = startCli([
      'run',
      file,
      '--workers',
      '2',
      '--ui',
      '--checkpoint',
      join(dir, 'ui-ckpt'),
      '--brokers',
      brokers(),
    ])
    const { child, exited } = cli
    try {
      await waitFor(() => /Dashboard: (http:\S+)/.test(cli.stderr), 60_000, 'the dashboard line')
      const url = /Dashboard: (http:\S+) /.exec(cli.stderr)![1]!
      const workers = [0, 1].map((i) => `${hostname()}-w${i}`)
      const all = Array.from({ length: 6 }, (_, p) => `${input}:${p}`).join()
      let last: unknown
      await waitFor(
        async () => {
          const snapshot = (await (await fetch(`${url}api/snapshot`)).json()) as Snapshot
          const view = snapshot.pipelines.find((p) => p.id === id)
          last = view?.group
          const group = view?.group
          if (!view || !group || group.members.length !== 2) return false
          const owned = group.members.flatMap((m) => m.partitions)
          return (
            group.members.map((m) => m.instance).join() === workers.join() &&
            group.members.every((m) => m.partitions.length > 0) &&
            [...owned].sort().join() === all.split(',').sort().join() &&
            group.partitions.every((p) => p.lag === 0) &&
            // Both workers' batches reach the supervisor's page.
            view.totals.inputRows === N
          )
        },
        120_000,
        "the group of both workers on the supervisor's dashboard, all input read",
      ).catch((error: unknown) => {
        throw new Error(`${String(error)}; last group: ${JSON.stringify(last)}\n${cli.stderr}`)
      })
    } finally {
      child.kill('SIGINT')
      assert.equal(await exited, 0, cli.stderr)
    }
  })

  test('a pipeline whose keyed state does not follow the input partitioning is refused with the reason (exit 2), nothing started', async () => {
    const file = join(dir, 'windowed.yaml')
    await writeFile(
      file,
      `pipeline: workers-windowed\nsource: { kafka: { topics: never-${randomUUID().slice(0, 8)} } }\nwatermark: { field: event.t, delay: 5s }\nsteps:\n  - dedupe: { key: event.id, within: 10m }\nsink: { console: {} }\n`,
    )
    const result = await runCli(['run', file, '--workers', '2', '--brokers', brokers()], {
      timeoutMs: 60_000,
    })
    assert.equal(result.code, 2, result.stderr)
    assert.match(result.stderr, /pipeline "workers-windowed" runs as one instance/)
    assert.match(result.stderr, /keeps state by a key that is not the input's partitioning/)
    assert.match(result.stderr, /console/)
    // "auto" runs it as one process and says why.
    const auto = await runCli(['run', file, '--workers', 'auto', '--available-now', '--brokers', brokers()], {
      timeoutMs: 60_000,
    })
    assert.match(
      auto.stderr,
      /--workers auto runs one process: pipeline "workers-windowed" runs as one instance/,
    )
  })
})
