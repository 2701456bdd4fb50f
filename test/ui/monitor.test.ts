import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { after, describe, test } from 'node:test'
import { z } from 'zod'
import { memory } from '../../src/connectors/testing/memory.ts'
import { memorySource } from '../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { UsageError } from '../../src/errors.ts'
import { batchLatency } from '../../src/runtime/latency.ts'
import type { BatchProgress } from '../../src/runtime/progress.ts'
import type { Snapshot, Tick } from '../../src/ui/dashboard-state.ts'
import { type Monitor, startMonitor } from '../../src/ui/monitor.ts'
import { type SseEvent, takeSseEvents } from '../helpers/sse.ts'

const cleanup: (() => Promise<void>)[] = []
after(async () => {
  for (const fn of cleanup.reverse()) await fn()
})

async function monitor(options: Parameters<typeof startMonitor>[0] = {}): Promise<Monitor> {
  const m = await startMonitor({ port: 0, processMetrics: false, ...options })
  cleanup.push(() => m.close())
  return m
}

/** A server holding a port, so the monitor finds it busy. */
async function occupy(port = 0): Promise<{ server: Server; port: number }> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', resolve)
  })
  cleanup.push(() => new Promise((resolve) => server.close(() => resolve())))
  const address = server.address()
  assert.ok(address && typeof address === 'object')
  return { server, port: address.port }
}

const clicks = pipeline('clicks')
  .from(memorySource('clicks'))
  .parse(z.object({ user: z.string() }), { schemaName: 'Click' })
  .to(memory())

function progress(overrides: Partial<BatchProgress> = {}): BatchProgress {
  const now = Date.now()
  return {
    pipelineId: 'clicks',
    batchId: 0,
    timestamp: new Date(now).toISOString(),
    inputRows: 500,
    inputRowsPerSecond: 500,
    processedRowsPerSecond: 5000,
    outputRows: 480,
    deadLetteredRows: 1,
    lateRows: 0,
    duplicateRows: 0,
    durationMs: { poll: 1, process: 2, checkpoint: 3, sink: 4, total: 10 },
    watermark: new Date(now - 30_000).toISOString(),
    stateRows: 0,
    stateBytes: 0,
    sourceLag: { 'events:0': 42 },
    sourceUnit: 'records',
    sourceRead: 100,
    replayed: false,
    latency: batchLatency(
      [{ partition: 'events:0', offset: 0, key: null, value: null, timestamp: now - 80 }],
      now,
    ),
    ...overrides,
  }
}

/** Reads server-sent events from a fetch response until `until` says stop. */
async function readEvents(
  url: string,
  until: (events: { event: string; data: unknown }[]) => boolean,
): Promise<{ event: string; data: unknown }[]> {
  const controller = new AbortController()
  const response = await fetch(url, { signal: controller.signal })
  assert.equal(response.status, 200)
  assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/)
  const events: SseEvent[] = []
  const decoder = new TextDecoder()
  let buffer = ''
  const timeout = setTimeout(() => controller.abort(), 10_000)
  try {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer = takeSseEvents(buffer + decoder.decode(chunk, { stream: true }), events)
      if (until(events)) break
    }
  } finally {
    clearTimeout(timeout)
    controller.abort()
  }
  return events
}

describe('ports', () => {
  test('without a port: 4040, or the next free one when it is taken', async () => {
    // Whatever holds 4040 now (another run), the monitor must land on a free port at or after it.
    const first = await monitor({ port: undefined })
    assert.ok(first.port >= 4040 && first.port < 4090, String(first.port))
    const second = await monitor({ port: undefined })
    // Not necessarily first + 1: a test running beside this one may free or take ports meanwhile.
    assert.ok(second.port >= 4040 && second.port < 4090 && second.port !== first.port, String(second.port))
    assert.equal(second.url, `http://127.0.0.1:${second.port}/`)
    const response = await fetch(`${second.url}metrics`)
    assert.equal(response.status, 200)
  })

  test('a port asked for that is busy: a UsageError saying so, exit code 2', async () => {
    const { port } = await occupy()
    await assert.rejects(startMonitor({ port, processMetrics: false }), (error: unknown) => {
      assert.ok(error instanceof UsageError)
      assert.equal(error.exitCode, 2)
      assert.match(error.message, new RegExp(`Port ${port} on 127\\.0\\.0\\.1 is already in use`))
      assert.match(error.message, /--ui-port/)
      return true
    })
  })

  test('a host that is not ours: a UsageError naming it', async () => {
    await assert.rejects(
      startMonitor({ host: '192.0.2.1', port: 0, processMetrics: false }),
      /--ui-host 192\.0\.2\.1 is not an address of this machine/,
    )
  })
})

describe('HTTP', () => {
  test('/metrics in the Prometheus format; the page and its assets; 404 and 405', async () => {
    const m = await monitor({ pipelines: [clicks] })
    m.observe(progress())
    const metrics = await fetch(`${m.url}metrics`)
    assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
    const text = await metrics.text()
    assert.match(text, /^sluice_input_rows_total\{pipeline="clicks"\} 500$/m)
    assert.match(text, /^sluice_consumer_lag_records\{pipeline="clicks",partition="events:0"\} 42$/m)
    assert.match(text, /^sluice_end_to_end_latency_seconds_count\{pipeline="clicks"\} 1$/m)

    const page = await fetch(m.url)
    assert.equal(page.status, 200)
    assert.match(await page.text(), /<main id="app"/)
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/)
    for (const asset of ['app.js', 'app.css', 'vendor/uPlot.esm.js', 'vendor/uPlot.min.css']) {
      const response = await fetch(`${m.url}${asset}`)
      assert.equal(response.status, 200, asset)
      assert.ok((await response.text()).length > 500, asset)
    }
    assert.equal((await fetch(`${m.url}../package.json`)).status, 404)
    assert.equal((await fetch(`${m.url}nope`)).status, 404)
    assert.equal((await fetch(`${m.url}metrics`, { method: 'POST' })).status, 405)
  })

  test('with the dashboard off only /metrics is served', async () => {
    const m = await monitor({ dashboard: false })
    assert.equal((await fetch(m.url)).status, 404)
    assert.equal((await fetch(`${m.url}events`)).status, 404)
    assert.equal((await fetch(`${m.url}metrics`)).status, 200)
  })
})

describe('event stream', () => {
  test('a snapshot with the operator graph, then a tick a period with points, and dead letters as they come', async () => {
    const m = await monitor({ pipelines: [clicks], tickMs: 100 })
    m.observe(progress())
    const events = await readEvents(`${m.url}events`, (seen) => {
      if (seen.length === 1) {
        m.deadLetters(
          [
            {
              reason: 'malformed JSON: Unexpected end of JSON input',
              operator: 'parse-1',
              partition: 'events:0',
              offset: 17,
              key: 'u-1',
              raw: Buffer.from('{"user":'),
              timestamp: Date.now(),
            },
          ],
          { pipelineId: 'clicks', batchId: 3 },
        )
      }
      return (
        seen.some((e) => e.event === 'dead-letters') && seen.filter((e) => e.event === 'tick').length >= 2
      )
    })
    const snapshot = events[0]
    assert.equal(snapshot?.event, 'snapshot')
    const { pipelines } = snapshot.data as Snapshot
    assert.deepEqual(
      pipelines[0]?.graph.map((n) => [n.kind, n.label]),
      [
        ['source', 'memory clicks'],
        ['parse', 'Click'],
        ['sink', 'memory'],
      ],
    )
    const tick = events.find((e) => e.event === 'tick')?.data as { tick: Tick }
    const point = tick.tick.points.clicks
    assert.ok(point)
    assert.ok(point.input > 0, 'the batch counts in the input rate')
    assert.equal(point.lag, 42)
    assert.equal(point.p50, 80)
    assert.ok(point.watermarkDelay !== null && point.watermarkDelay >= 30, String(point.watermarkDelay))
    const letters = events.find((e) => e.event === 'dead-letters')?.data as Snapshot['deadLetters']
    assert.deepEqual(
      letters.map((d) => [d.pipeline, d.operator, d.source, d.preview, d.bytes]),
      [['clicks', 'parse-1', 'events:0@17', '{"user":', 8]],
    )
    // A page opened now gets the dead letter and the ticks in its snapshot.
    const late = await readEvents(`${m.url}events`, (seen) => seen.length >= 1)
    const again = late[0]?.data as Snapshot
    assert.equal(again.deadLetters[0]?.reason, 'malformed JSON: Unexpected end of JSON input')
    assert.ok(again.ticks.length >= 2)
    assert.equal(again.pipelines[0]?.deadLettersByOperator['parse-1'], 1)
  })

  test('close() ends open event streams and frees the port', async () => {
    const m = await startMonitor({ port: 0, processMetrics: false, tickMs: 50 })
    const stream = readEvents(`${m.url}events`, () => false)
    await new Promise((resolve) => setTimeout(resolve, 200))
    await m.close()
    const events = await stream
    assert.ok(events.length >= 1, 'the stream ended instead of hanging')
    const { port } = await occupy(m.port)
    assert.equal(port, m.port)
  })
})
