import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { z } from 'zod'
import { aggregates, count, sum } from '../../src/aggregate/index.ts'
import { files } from '../../src/connectors/files/files-source.ts'
import { KafkaProducer } from '../../src/connectors/kafka/producer.ts'
import { kafka } from '../../src/connectors/kafka/source.ts'
import { memory } from '../../src/connectors/testing/memory.ts'
import { memorySource } from '../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { run } from '../../src/runtime/run.ts'
import type { SourceSpec } from '../../src/runtime/source.ts'
import { TestDriver } from '../../src/testing/test-driver.ts'
import { hopping, session, tumbling } from '../../src/window/index.ts'
import type { WindowSpec } from '../../src/window/spec.ts'
import { brokers, freshTopic } from '../helpers/kafka.ts'
import { waitFor } from '../helpers/wait.ts'

/**
 * Batch = stream: a bounded input (a file, a topic read to the end seen at start) ends with the watermark at
 * +Infinity, so every window and session is emitted, and the rows equal a streaming run's over the same
 * records and a plain-loop reference. A backlog read slowly is behind, not idle: nothing of it is late.
 */

const dirs: string[] = []
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

const T0 = Date.parse('2026-11-25T10:00:00Z')
const MIN = 60_000
const Event = z.object({ k: z.string(), t: z.string(), v: z.number() })
type Event = z.infer<typeof Event>

interface Row {
  key: string
  window_start: string
  window_end: string
  n: number
  total: number
}

/** Events over 40 minutes for 5 keys, in order per key with a few seconds of disorder, gaps for sessions. */
function events(n: number): Event[] {
  const out: Event[] = []
  let seed = 7
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648
    return seed / 2147483648
  }
  for (let i = 0; i < n; i++) {
    const k = `k${i % 5}`
    // Keys go quiet for 3-minute stretches at different times, so sessions split.
    const base = T0 + Math.floor((i / n) * 40 * MIN)
    if (Math.floor((base - T0) / (6 * MIN)) % 5 === i % 5 && ((base - T0) / MIN) % 6 < 3) continue
    const t = base + Math.floor(rnd() * 3000)
    out.push({ k, t: new Date(t).toISOString(), v: Math.floor(rnd() * 100) })
  }
  return out
}

type Kind = 'tumbling' | 'hopping' | 'session'
const windowOf: Record<Kind, () => WindowSpec> = {
  tumbling: () => tumbling('1m'),
  hopping: () => hopping('5m', '1m'),
  session: () => session('2m'),
}

function build<V>(name: string, source: SourceSpec<V>, kind: Kind, idleTimeout: string | undefined = '1s') {
  const sink = memory<Row>()
  return {
    sink,
    pipeline: pipeline(name)
      .from(source)
      .parse(Event)
      .withWatermark('t', '10s', idleTimeout ? { idleTimeout } : {})
      .keyBy((e) => e.k)
      .window(windowOf[kind]())
      .aggregate(aggregates({ n: count(), total: sum((e: Event) => e.v) }))
      .map((r) => ({ ...r, key: String(r.key) }) as Row)
      .to(sink),
  }
}

/** Every window of every event: nothing is late (disorder 3 s, delay 10 s) and a bounded input closes all. */
function reference(input: readonly Event[], kind: Kind): Row[] {
  const cells = new Map<string, Row>()
  const add = (key: string, start: number, end: number, v: number) => {
    const id = `${key}|${start}`
    const row = cells.get(id) ?? {
      key,
      window_start: new Date(start).toISOString(),
      window_end: new Date(end).toISOString(),
      n: 0,
      total: 0,
    }
    row.n++
    row.total += v
    row.window_end = new Date(end).toISOString()
    cells.set(id, row)
  }
  if (kind === 'session') {
    const byKey = new Map<string, Event[]>()
    for (const e of input) byKey.set(e.k, [...(byKey.get(e.k) ?? []), e])
    for (const [key, list] of byKey) {
      const sorted = [...list].sort((a, b) => Date.parse(a.t) - Date.parse(b.t))
      let group: Event[] = []
      const close = () => {
        if (group.length === 0) return
        const start = Date.parse(group[0]!.t)
        const end = Date.parse(group.at(-1)!.t) + 2 * MIN
        const row: Row = {
          key,
          window_start: new Date(start).toISOString(),
          window_end: new Date(end).toISOString(),
          n: group.length,
          total: group.reduce((s, e) => s + e.v, 0),
        }
        cells.set(`${key}|${start}`, row)
        group = []
      }
      for (const e of sorted) {
        const last = group.at(-1)
        if (last && Date.parse(e.t) >= Date.parse(last.t) + 2 * MIN) close()
        group.push(e)
      }
      close()
    }
  } else {
    for (const e of input) {
      const t = Date.parse(e.t)
      if (kind === 'tumbling') {
        const start = Math.floor(t / MIN) * MIN
        add(e.k, start, start + MIN, e.v)
      } else {
        for (let start = Math.floor(t / MIN) * MIN; start > t - 5 * MIN; start -= MIN)
          add(e.k, start, start + 5 * MIN, e.v)
      }
    }
  }
  return sorted([...cells.values()])
}

function sorted(rows: readonly Row[]): Row[] {
  const key = (r: Row) => `${r.key}|${r.window_start}`
  return [...rows]
    .map(({ key, window_start, window_end, n, total }) => ({ key, window_start, window_end, n, total }))
    .sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0))
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bounded-'))
  dirs.push(dir)
  return dir
}

async function produce(topic: string, input: readonly Event[], partitions: number): Promise<void> {
  const producer = new KafkaProducer({ brokers: brokers() })
  try {
    for (let i = 0; i < input.length; i += 5000) {
      await producer.send(
        input.slice(i, i + 5000).map((e) => ({
          topic,
          key: e.k,
          value: JSON.stringify(e),
          partition: Number(e.k.slice(1)) % partitions,
        })),
      )
    }
  } finally {
    await producer.close()
  }
}

const input = events(3000)
const kinds: Kind[] = ['tumbling', 'hopping', 'session']

describe('a bounded input ends with every window emitted', () => {
  test("the issue's example: the last tumbling window and the only session are emitted at the end", async () => {
    const at = (s: string) => ({ k: 'x', t: `2026-01-01T00:${s}Z`, v: 1 })
    const sent = ['00:10', '00:50', '01:20', '02:05', '02:40'].map(at)
    const tumblingRows = build('example-tumbling', memorySource('e'), 'tumbling')
    const tumblingDriver = await TestDriver.create(tumblingRows.pipeline, { startTime: Date.now() })
    tumblingDriver.send(sent)
    tumblingDriver.runBatch()
    tumblingDriver.runBatch() // the next trigger: runs under the watermark the records moved
    assert.deepEqual(
      tumblingDriver.output.map((r) => `${r.window_start.slice(11, 16)} n=${r.n}`),
      ['00:00 n=2', '00:01 n=1'],
      'a stream keeps the window the watermark has not passed open',
    )
    tumblingDriver.endInput()
    assert.deepEqual(
      tumblingDriver.output.map((r) => `${r.window_start.slice(11, 16)} n=${r.n}`),
      ['00:00 n=2', '00:01 n=1', '00:02 n=2'],
    )
    const sessionDriver = await TestDriver.create(
      pipeline('example-session')
        .from(memorySource('e'))
        .parse(Event)
        .withWatermark('t', '30s')
        .keyBy((e) => e.k)
        .window(session('5m'))
        .aggregate(count())
        .to(memory()),
      { startTime: Date.now() },
    )
    sessionDriver.send(sent)
    sessionDriver.runBatch()
    sessionDriver.runBatch()
    assert.equal(sessionDriver.output.length, 0)
    sessionDriver.endInput()
    assert.deepEqual(sessionDriver.output, [
      {
        key: 'x',
        window_start: '2026-01-01T00:00:10.000Z',
        window_end: '2026-01-01T00:07:40.000Z',
        value: 5,
      },
    ])
  })

  for (const kind of kinds) {
    test(`${kind}: the test driver, a file in batch and a bounded topic equal the reference`, async () => {
      const expected = reference(input, kind)

      const driven = build(`driver-${kind}`, memorySource('e'), kind)
      const driver = await TestDriver.create(driven.pipeline, { startTime: Date.now() })
      for (let i = 0; i < input.length; i += 250) {
        driver.send(input.slice(i, i + 250))
        driver.runBatch()
      }
      driver.endInput()
      assert.deepEqual(sorted(driver.output), expected, 'test driver')

      const dir = await tempDir()
      const path = join(dir, 'events.jsonl')
      await writeFile(path, `${input.map((e) => JSON.stringify(e)).join('\n')}\n`)
      // A processing-time trigger, not availableNow: a bounded source ends the run by itself.
      const fromFile = build(`file-${kind}`, files({ path, format: 'jsonl' }), kind)
      await run(fromFile.pipeline, {
        checkpoint: join(dir, 'ckpt-file'),
        trigger: { kind: 'processingTime', intervalMs: 10 },
        maxBatchRecords: 700,
      })
      assert.deepEqual(sorted(fromFile.sink.rows), expected, 'file')

      const topic = await freshTopic(`bounded-${kind}`, 3)
      await produce(topic, input, 3)
      const fromTopic = build(
        `topic-${kind}`,
        kafka({ brokers: brokers(), topics: topic, endingOffsets: 'latest' }),
        kind,
      )
      await run(fromTopic.pipeline, {
        checkpoint: join(dir, 'ckpt-topic'),
        trigger: { kind: 'availableNow' },
        maxBatchRecords: 700,
      })
      assert.deepEqual(sorted(fromTopic.sink.rows), expected, 'bounded topic')
    })
  }

  test('a streaming run over the same topic closes every window once its partitions are caught up and quiet', async () => {
    const dir = await tempDir()
    const topic = await freshTopic('streaming-sessions', 3)
    await produce(topic, input, 3)
    const expected = reference(input, 'session')
    const streaming = build('streaming-session', kafka({ brokers: brokers(), topics: topic }), 'session')
    const stop = new AbortController()
    const running = run(streaming.pipeline, {
      checkpoint: join(dir, 'ckpt'),
      trigger: { kind: 'processingTime', intervalMs: 200 },
      signal: stop.signal,
    })
    try {
      await waitFor(
        () => streaming.sink.rows.length >= expected.length,
        60_000,
        'every session to close by idleness',
      )
    } finally {
      stop.abort()
      await running
    }
    assert.deepEqual(sorted(streaming.sink.rows), expected)
  })

  test('availableNow over an unbounded topic stops with open windows kept for the next run', async () => {
    const dir = await tempDir()
    const topic = await freshTopic('available-now', 1)
    const at = (s: string) => ({ k: 'x', t: `2026-01-01T00:${s}Z`, v: 1 })
    await produce(topic, ['00:10', '00:50', '01:20'].map(at), 1)
    // No idle timeout: the clock must not close the open window between the runs.
    const build1 = () =>
      build('available-now', kafka({ brokers: brokers(), topics: topic }), 'tumbling', undefined)
    const first = build1()
    await run(first.pipeline, { checkpoint: join(dir, 'ckpt'), trigger: { kind: 'availableNow' } })
    assert.deepEqual(
      first.sink.rows.map((r) => `${r.window_start.slice(11, 16)} n=${r.n}`),
      ['00:00 n=2'],
    )
    await produce(topic, ['01:40', '02:50'].map(at), 1)
    const second = build1()
    await run(second.pipeline, { checkpoint: join(dir, 'ckpt'), trigger: { kind: 'availableNow' } })
    assert.deepEqual(
      second.sink.rows.map((r) => `${r.window_start.slice(11, 16)} n=${r.n}`),
      ['00:01 n=2'],
      'the window left open by the first run holds its records and closes in the second',
    )
  })
})

describe('idleness means caught up and quiet', () => {
  test('a 100k backlog read in small batches with a trigger slower than the idle timeout has nothing late', async () => {
    const dir = await tempDir()
    const topic = await freshTopic('backlog', 4)
    const n = 100_000
    const backlog: Event[] = []
    // Two hours of history, produced before the pipeline starts: the clock is far ahead of every event.
    for (let i = 0; i < n; i++)
      backlog.push({ k: `k${i % 4}`, t: new Date(T0 + Math.floor((i / n) * 120 * MIN)).toISOString(), v: 1 })
    await produce(topic, backlog, 4)
    const p = build('backlog', kafka({ brokers: brokers(), topics: topic }), 'tumbling')
    const stop = new AbortController()
    let late = 0
    let input = 0
    const running = run(p.pipeline, {
      checkpoint: join(dir, 'ckpt'),
      // 1.5 s between batches of at most 8,000 records: every partition is quiet for longer than the
      // 1 s idle timeout between batches, with most of the backlog still unread.
      trigger: { kind: 'processingTime', intervalMs: 1500 },
      maxBatchRecords: 8000,
      signal: stop.signal,
      onProgress: (progress) => {
        late += progress.lateRows
        input += progress.inputRows
      },
    })
    try {
      // Once the backlog is read the partitions are truly quiet and the clock closes the last windows.
      await waitFor(
        () => input >= n && p.sink.rows.reduce((s, r) => s + r.n, 0) >= n,
        120_000,
        'the backlog to be read and every window to close',
      )
    } finally {
      stop.abort()
      await running
    }
    assert.equal(late, 0, 'records of the backlog counted as late')
    assert.equal(p.sink.rows.length, 4 * 120)
    assert.equal(
      p.sink.rows.reduce((s, r) => s + r.n, 0),
      n,
    )
  })
})
