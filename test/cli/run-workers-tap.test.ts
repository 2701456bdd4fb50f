import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { KafkaProducer } from '../../src/connectors/kafka/producer.ts'
import type { TapRecord } from '../../src/runtime/tap.ts'
import type { Snapshot } from '../../src/ui/dashboard-state.ts'
import { startCli } from '../helpers/cli.ts'
import { brokers, freshTopic } from '../helpers/kafka.ts'
import { listenSse } from '../helpers/sse.ts'
import { waitFor } from '../helpers/wait.ts'

/**
 * The live tap under `sluice run --workers N --ui` (issues 15 and 13, item 6): the supervisor serves the page,
 * the operators run in the workers. A tap opened on the supervisor's page is opened in every worker (and in a
 * restarted worker's replacement), their samples arrive merged and labelled with their worker, and closing
 * the page's stream closes the workers' taps.
 */

let dir: string
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-workers-tap-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

const PARTITIONS = 6
const TAP_OPENED = "tap opened for the supervisor's dashboard"
const TAP_CLOSED = "tap closed for the supervisor's dashboard"

interface LogLine {
  readonly pid: number
  readonly msg: string
  readonly operator?: string
}

/** The workers' JSON log lines (--log-level info) saying `msg` of `operator`. */
function logLines(stderr: string, msg: string, operator: string): LogLine[] {
  return stderr
    .split('\n')
    .filter((line) => line.startsWith('{') && line.includes(msg))
    .map((line) => JSON.parse(line) as LogLine)
    .filter((line) => line.msg === msg && line.operator === operator)
}

test('sluice run --workers 2 --ui: the tap of a step shows records from both workers, a restarted worker’s too, and closing it closes theirs', {
  timeout: 240_000,
}, async () => {
  const input = await freshTopic('workers-tap-in', PARTITIONS)
  const output = await freshTopic('workers-tap-out', 2)
  const id = `workers-tap-${randomUUID().slice(0, 8)}`
  const file = join(dir, 'pipeline.yaml')
  await writeFile(
    file,
    `pipeline: ${id}\nsource: { kafka: { topics: ${input} } }\nsteps:\n  - map: { id: event.id, n: event.n }\nsink: { kafka: { topic: ${output} } }\n`,
  )
  const cli = startCli([
    'run',
    file,
    '--workers',
    '2',
    '--ui',
    '--ui-port',
    '0',
    // The workers say when they open and close a tap at info.
    '--log-level',
    'info',
    '--checkpoint',
    join(dir, 'ckpt'),
    '--brokers',
    brokers(),
  ])
  const { child, exited } = cli
  const producer = new KafkaProducer({ brokers: brokers() })
  let tap: ReturnType<typeof listenSse> | undefined
  try {
    await waitFor(() => /Dashboard: (http:\S+)/.test(cli.stderr), 60_000, 'the dashboard line')
    const url = /Dashboard: (http:\S+) /.exec(cli.stderr)![1]!
    const workers = [0, 1].map((i) => `${hostname()}-w${i}`)
    const snapshot = async () =>
      ((await (await fetch(`${url}api/snapshot`)).json()) as Snapshot).pipelines.find((p) => p.id === id)
    let last: unknown
    await waitFor(
      async () => {
        const group = (await snapshot())?.group
        last = group
        return (
          group?.members.map((m) => m.instance).join() === workers.join() &&
          group.members.every((m) => m.partitions.length > 0)
        )
      },
      120_000,
      'both workers in the group, each with partitions',
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}; last group: ${JSON.stringify(last)}\n${cli.stderr}`)
    })
    const mapId = (await snapshot())!.graph.find((n) => n.kind === 'map')!.id

    tap = listenSse(`${url}tap?pipeline=${id}&operator=${mapId}`)
    await waitFor(() => tap!.events.some((e) => e.event === 'tap'), 30_000, 'the tap opened')
    // Input keeps coming, a little at a time: the next lot once the workers have read the last.
    let produced = 0
    const records = (from = 0) =>
      tap!.events
        .slice(from)
        .filter((e) => e.event === 'records')
        .flatMap((e) => e.data as TapRecord[])
    const feedUntil = async (holds: () => boolean, what: string) => {
      await waitFor(
        async () => {
          if (holds()) return true
          if (((await snapshot())?.totals.inputRows ?? 0) >= produced) {
            await producer.send(
              Array.from({ length: 60 }, (_, i) => ({
                topic: input,
                key: `k${produced + i}`,
                value: JSON.stringify({ id: produced + i, n: (produced + i) % 7, dropped: 'by the map' }),
                partition: (produced + i) % PARTITIONS,
              })),
            )
            produced += 60
          }
          return false
        },
        90_000,
        what,
      ).catch((error: unknown) => {
        throw new Error(
          `${String(error)}; tap events: ${JSON.stringify(tap?.events)}\n${cli.stderr.slice(-5000)}`,
        )
      })
    }
    const fromWorker = (worker: string, from = 0) => records(from).some((r) => r.instance === worker)
    await feedUntil(() => workers.every((w) => fromWorker(w)), 'records of the tapped map from both workers')
    for (const record of records()) {
      assert.ok(
        workers.includes(record.instance ?? ''),
        `labelled with its worker: ${JSON.stringify(record)}`,
      )
      assert.deepEqual(Object.keys(JSON.parse(record.preview) as object), ['id', 'n'], 'the map’s output')
      assert.match(
        record.source,
        new RegExp(`^${input}:[0-5]@\\d+$`),
        'the partition and offset it stems from',
      )
    }

    // A worker killed while the tap is open: its replacement opens the tap too.
    const opened = logLines(cli.stderr, TAP_OPENED, mapId)
    assert.equal(new Set(opened.map((l) => l.pid)).size, 2, 'each worker opened the tap once')
    const killed = opened[1]!.pid
    process.kill(killed, 'SIGKILL')
    await waitFor(
      () => logLines(cli.stderr, TAP_OPENED, mapId).some((l) => !opened.some((o) => o.pid === l.pid)),
      120_000,
      'the replacement worker opening the tap',
    )
    const replacement = logLines(cli.stderr, TAP_OPENED, mapId).find(
      (l) => !opened.some((o) => o.pid === l.pid),
    )!
    const afterRestart = tap.events.length
    await feedUntil(
      () => workers.every((w) => fromWorker(w, afterRestart)),
      'records from both workers after one was replaced',
    )

    // The page's stream closed: every worker's tap closes, the replacement's included.
    tap.close()
    const running = [...opened.filter((l) => l.pid !== killed), replacement].map((l) => l.pid).sort()
    await waitFor(
      () =>
        logLines(cli.stderr, TAP_CLOSED, mapId)
          .map((l) => l.pid)
          .sort()
          .join() === running.join(),
      30_000,
      'both running workers closing the tap',
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${cli.stderr.slice(-5000)}`)
    })
  } finally {
    tap?.close()
    await producer.close()
    child.kill('SIGINT')
  }
  assert.equal(await exited, 0, cli.stderr.slice(-5000))
})
