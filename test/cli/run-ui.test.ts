import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { KafkaProducer } from '../../src/connectors/kafka/producer.ts'
import type { Snapshot } from '../../src/ui/dashboard-state.ts'
import { startCli } from '../helpers/cli.ts'
import { brokers, freshTopic } from '../helpers/kafka.ts'
import { listenSse } from '../helpers/sse.ts'
import { waitFor } from '../helpers/wait.ts'

/**
 * `sluice run FILE --ui` in one process (issue 15 item 6): the dashboard of a YAML pipeline shows its input,
 * /metrics answers, the live tap shows the records a step emits, and Ctrl-C stops it with its summary.
 */

let dir: string
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-run-ui-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function produce(topic: string, from: number, count: number): Promise<void> {
  const producer = new KafkaProducer({ brokers: brokers() })
  try {
    await producer.send(
      Array.from({ length: count }, (_, i) => ({
        topic,
        key: `k${from + i}`,
        value: JSON.stringify({ id: from + i, n: (from + i) % 7, dropped: 'by the map' }),
        partition: (from + i) % 2,
      })),
    )
  } finally {
    await producer.close()
  }
}

test('sluice run --ui: the pipeline on the dashboard with its input, /metrics, the live tap of a step, and a summary on Ctrl-C', {
  timeout: 180_000,
}, async () => {
  const input = await freshTopic('run-ui-in', 2)
  const output = await freshTopic('run-ui-out', 1)
  const N = 3000
  await produce(input, 0, N)
  const id = `run-ui-${randomUUID().slice(0, 8)}`
  const file = join(dir, 'pipeline.yaml')
  await writeFile(
    file,
    `pipeline: ${id}\nsource: { kafka: { topics: ${input} } }\nsteps:\n  - map: { id: event.id, n: event.n }\nsink: { kafka: { topic: ${output} } }\n`,
  )
  const cli = startCli([
    'run',
    file,
    '--ui',
    '--ui-port',
    '0',
    '--checkpoint',
    join(dir, 'ckpt'),
    '--brokers',
    brokers(),
  ])
  const { child, exited } = cli
  let tap: ReturnType<typeof listenSse> | undefined
  try {
    await waitFor(() => /Dashboard: (http:\S+)/.test(cli.stderr), 60_000, 'the dashboard line')
    const url = /Dashboard: (http:\S+) /.exec(cli.stderr)![1]!
    assert.doesNotMatch(url, /:0\//, 'the port the system chose, not 0')
    let view: Snapshot['pipelines'][number] | undefined
    await waitFor(
      async () => {
        const snapshot = (await (await fetch(`${url}api/snapshot`)).json()) as Snapshot
        view = snapshot.pipelines.find((p) => p.id === id)
        return view?.totals.inputRows === N && view.totals.outputRows === N
      },
      120_000,
      'the pipeline on the dashboard with all its input read and written',
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}; last view: ${JSON.stringify(view)}\n${cli.stderr}`)
    })
    // A backlog older than 10 s when read shows as catching up for a minute after its last batch.
    assert.ok(['running', 'catching up'].includes(view?.health.state ?? ''), JSON.stringify(view?.health))
    assert.equal(view?.health.lastError, null)
    assert.deepEqual(
      view?.graph.map((n) => n.kind),
      ['source', 'parse', 'map', 'sink'],
      'the YAML pipeline’s operators (JSON decoding first)',
    )

    const metrics = await fetch(`${url}metrics`)
    assert.equal(metrics.status, 200)
    const text = await metrics.text()
    assert.match(text, new RegExp(`^sluice_input_rows_total\\{pipeline="${id}"\\} ${N}$`, 'm'))

    // The tap of the map: records produced after it opened show the map's output, not the input.
    const mapId = view!.graph.find((n) => n.kind === 'map')!.id
    tap = listenSse(`${url}tap?pipeline=${id}&operator=${mapId}`)
    await waitFor(() => tap!.events.some((e) => e.event === 'tap'), 30_000, 'the tap opened')
    const more = 200
    await produce(input, N, more)
    await waitFor(
      () => tap!.events.some((e) => e.event === 'records'),
      60_000,
      'records of the tapped map',
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}; events: ${JSON.stringify(tap?.events)}\n${cli.stderr}`)
    })
    const records = tap.events
      .filter((e) => e.event === 'records')
      .flatMap((e) => e.data as { preview: string; source: string }[])
    for (const record of records) {
      const row = JSON.parse(record.preview) as Record<string, unknown>
      assert.deepEqual(Object.keys(row), ['id', 'n'], 'the map’s output, without the dropped field')
      assert.ok(Number(row.id) >= N, 'a record produced after the tap opened')
      assert.match(record.source, new RegExp(`^${input}:[01]@\\d+$`))
    }
  } finally {
    tap?.close()
    child.kill('SIGINT')
  }
  assert.equal(await exited, 0, cli.stderr)
  const summary = new RegExp(`^${id}: (\\d+) records in .*, (\\d+) rows out, 0 dead-lettered`, 'm').exec(
    cli.stderr,
  )
  assert.ok(summary, `a summary line in\n${cli.stderr}`)
  assert.ok(Number(summary[1]) >= N, cli.stderr)
})
