import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { mkdtemp, rm, stat, truncate } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import { KafkaAdmin } from '../../src/connectors/kafka/admin.ts'
import { KafkaConsumer } from '../../src/connectors/kafka/consumer.ts'
import { KafkaProducer } from '../../src/connectors/kafka/producer.ts'
import type { ConsumedRecord } from '../../src/connectors/kafka/records.ts'
import { kafkaSink } from '../../src/connectors/kafka/sink.ts'
import { kafka } from '../../src/connectors/kafka/source.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import type { BatchProgress } from '../../src/runtime/progress.ts'
import { run } from '../../src/runtime/run.ts'
import { runNode } from '../helpers/cli.ts'
import { brokers, freshTopic, uniqueGroup } from '../helpers/kafka.ts'
import { waitFor } from '../helpers/wait.ts'

const dirs: string[] = []
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-ckpt-'))
  dirs.push(dir)
  return dir
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

async function produceJson(
  topic: string,
  rows: readonly { key: string; value: unknown; partition?: number }[],
) {
  const producer = new KafkaProducer({ brokers: brokers() })
  try {
    for (let i = 0; i < rows.length; i += 5000) {
      await producer.send(
        rows.slice(i, i + 5000).map((r) => ({
          topic,
          key: r.key,
          value: typeof r.value === 'string' ? r.value : JSON.stringify(r.value),
          ...(r.partition !== undefined ? { partition: r.partition } : {}),
        })),
      )
    }
  } finally {
    await producer.close()
  }
}

/** Everything committed on a topic (read_committed), read until `n` records or quiet for 3 s. */
async function readAll(topic: string, n: number): Promise<ConsumedRecord[]> {
  const consumer = new KafkaConsumer({
    brokers: brokers(),
    groupId: uniqueGroup('verify'),
    topics: [topic],
    start: { from: 'earliest' },
  })
  const out: ConsumedRecord[] = []
  try {
    let quiet = 0
    for await (const batch of consumer.batches({
      maxRecords: 10_000,
      lingerMs: 50,
      idleMs: 500,
      signal: AbortSignal.timeout(120_000),
    })) {
      out.push(...batch)
      quiet = batch.length === 0 ? quiet + 1 : 0
      if (out.length >= n && quiet >= 2) break
      if (quiet >= 6) break
    }
  } finally {
    await consumer.close()
  }
  return out
}

/**
 * A fresh 4-partition input topic of `n` events `{ id, key, t }` (id i on partition i % 4, so id = 4 × offset +
 * partition) for the stateless crash pipeline, and a fresh 2-partition output topic.
 */
async function idTopics(prefix: string, n: number): Promise<{ input: string; output: string }> {
  const input = await freshTopic(`${prefix}-in`, 4)
  const output = await freshTopic(`${prefix}-out`, 2)
  await produceJson(
    input,
    Array.from({ length: n }, (_, i) => ({
      key: `k${i % 50}`,
      value: { id: i, key: `k${i % 50}`, t: i },
      partition: i % 4,
    })),
  )
  return { input, output }
}

describe('runtime against a real broker', () => {
  test('parse, transform and write exactly once; dead letters in the same transaction; group offsets follow', async () => {
    const input = await freshTopic('rt-in', 3)
    const output = await freshTopic('rt-out', 1)
    const dlq = await freshTopic('rt-dlq', 1)
    const rows = Array.from({ length: 3000 }, (_, i) => ({
      key: `u${i % 17}`,
      value: i % 100 === 99 ? '{"broken' : { id: i, amount: i % 13 },
    }))
    await produceJson(input, rows)
    const groupId = uniqueGroup('rt')
    const progress: BatchProgress[] = []
    const p = pipeline('rt-etl')
      .from(kafka({ topics: input, brokers: brokers(), groupId }))
      .parse(z.object({ id: z.number(), amount: z.number() }))
      .map((e) => ({ id: e.id, cents: e.amount * 100 }))
      .to(kafkaSink({ topic: output, brokers: brokers(), deadLetterTopic: dlq, key: (r) => String(r.id) }))
    const summary = await run(p, {
      checkpoint: await tempDir(),
      trigger: { kind: 'availableNow' },
      maxBatchRecords: 700,
      onProgress: (e) => progress.push(e),
    })
    assert.equal(summary.inputRows, 3000)
    assert.equal(summary.deadLetteredRows, 30)
    const out = await readAll(output, 2970)
    const ids = out.map((r) => JSON.parse(r.value!.toString()).id as number).sort((a, b) => a - b)
    assert.deepEqual(
      ids,
      rows.map((_, i) => i).filter((i) => i % 100 !== 99),
    )
    const letters = await readAll(dlq, 30)
    assert.equal(letters.length, 30)
    const header = (r: ConsumedRecord, name: string) =>
      [...r.headers].find(([k]) => k.toString() === name)?.[1].toString()
    assert.equal(letters[0]!.value!.toString(), '{"broken')
    assert.match(header(letters[0]!, 'sluice-dlq-reason') ?? '', /^malformed JSON/)
    assert.match(header(letters[0]!, 'sluice-dlq-source') ?? '', new RegExp(`^${input}:\\d@\\d+$`))

    const admin = new KafkaAdmin({ brokers: brokers() })
    try {
      const lag = await admin.groupLag(groupId, input)
      assert.deepEqual(
        lag.map((l) => l.lag),
        [0n, 0n, 0n],
        'the consumer group shows the pipeline caught up',
      )
    } finally {
      await admin.close()
    }
    assert.ok(progress.length >= 5)
    assert.ok(progress.every((e) => e.durationMs.total >= 0 && e.pipelineId === 'rt-etl'))
  })

  test('SIGKILL at random points of a 200k-event run: the committed output is exact (no loss, no duplicate)', async () => {
    const input = await freshTopic('crash-in', 4)
    const output = await freshTopic('crash-out', 2)
    const T0 = Date.parse('2026-11-25T00:00:00Z')
    const N = 200_000
    const events = Array.from({ length: N }, (_, i) => ({
      key: `k${i % 50}`,
      value: { id: i, key: `k${i % 50}`, t: T0 + i * 10 },
      partition: i % 4,
    }))
    // One far-future event per partition closes every window.
    for (let p = 0; p < 4; p++)
      events.push({ key: 'end', value: { id: N + p, key: 'end', t: T0 + N * 10 + 3_600_000 }, partition: p })
    await produceJson(input, events)

    const expected = new Map<string, number>()
    for (const e of events.slice(0, N)) {
      const start = Math.floor(e.value.t / 10_000) * 10_000
      const k = `${e.value.key}|${new Date(start).toISOString()}`
      expected.set(k, (expected.get(k) ?? 0) + 1)
    }

    // A state cache of 10 entries for 50 keys: most look-ups and every restore go through the store on disk.
    await killFiveTimesThenFinish(input, output, { STATE_CACHE: '10' })
    const out = await readAll(output, expected.size)
    const got = new Map<string, number>()
    for (const r of out) {
      const row = JSON.parse(r.value!.toString()) as { key: string; window_start: string; value: number }
      if (row.key === 'end') continue
      const k = `${row.key}|${row.window_start}`
      assert.ok(!got.has(k), `duplicate window ${k}`)
      got.set(k, row.value)
    }
    assert.equal(got.size, expected.size, 'every window exactly once')
    for (const [k, n] of expected) assert.equal(got.get(k), n, k)
  })

  test('a stateless run whose checkpoint lacks the last batch the transaction committed (an older copy) resumes from the group, without duplicates', async () => {
    const input = await freshTopic('lost-entry-in', 2)
    const output = await freshTopic('lost-entry-out', 1)
    await produceJson(
      input,
      Array.from({ length: 5000 }, (_, i) => ({ key: `k${i}`, value: { id: i }, partition: i % 2 })),
    )
    const p = pipeline('lost-entry')
      .from(kafka({ topics: input, brokers: brokers(), groupId: uniqueGroup('lost-entry') }))
      .parse(z.object({ id: z.number() }))
      .to(kafkaSink({ topic: output, brokers: brokers() }))
    const checkpoint = await tempDir()
    const options = { checkpoint, trigger: { kind: 'availableNow' }, maxBatchRecords: 1000 } as const
    await run(p, { ...options, maxBatches: 3 })
    // Batch 2 committed in Kafka, but the checkpoint ends at batch 1: its entry torn (dropped on open), no
    // marker, as in a copy taken before batch 2 or a disk that lost the last write.
    const log = join(checkpoint, 'offsets.log')
    await truncate(log, (await stat(log)).size - 3)
    await rm(join(checkpoint, 'commits', '2.json'))
    await run(p, options)
    const ids = (await readAll(output, 5000)).map(
      (r) => (JSON.parse(r.value!.toString()) as { id: number }).id,
    )
    assert.equal(new Set(ids).size, ids.length, 'no duplicates')
    assert.equal(ids.length, 5000)
  })

  test('a restarted Kafka sink takes over at once from a crashed one whose transaction holds group offsets', async () => {
    const input = await freshTopic('takeover-in', 1)
    const output = await freshTopic('takeover-out', 1)
    await produceJson(input, [{ key: 'a', value: { id: 1 } }])
    const groupId = uniqueGroup('takeover')
    const pipelineId = `takeover-${groupId}`
    // The crashed process: its transaction holds the output and the group's offsets, and is never ended.
    const consumer = new KafkaConsumer({ brokers: brokers(), groupId, topics: [input] })
    const crashed = new KafkaProducer({
      brokers: brokers(),
      transactionalId: `sluice-${pipelineId}-${output}`,
    })
    const source = kafka({ topics: input, groupId, brokers: brokers() }).create({ pipelineId, now: Date.now })
    const sink = kafkaSink({ topic: output, brokers: brokers() }).create()
    try {
      const [record] = await consumer.poll({ maxRecords: 1, lingerMs: 0, idleMs: 10_000 })
      assert.ok(record)
      const open = await crashed.beginTransaction()
      await open.send([{ topic: output, value: 'from the crashed process' }])
      await open.commitOffsets(consumer, [record])
      // Until that transaction ends the group's offsets are unstable: reading them fails (it used to, for
      // the 5 s of the transaction timeout plus up to 10 s of the broker's abort sweep).
      await sink.open({ pipelineId, source })
      assert.equal(await sink.hasCommitted?.({ batchId: 0, end: { [`${input}:0`]: 1 } }), false)
      assert.deepEqual(await readAll(output, 0), [], "the crashed process's output was aborted")
    } finally {
      await sink.close()
      await consumer.close()
      await crashed.close().catch(() => {})
    }
  })

  // Its own waits allow 60 + 60 s to start and 180 s for the final runs: the suite's 2-minute default cut it
  // short once in a fresh-clone CI run, with nothing said about where it was.
  test('the same stateless pipeline started twice (one group, two checkpoints) shares the input and writes every input once', {
    timeout: 360_000,
  }, async () => {
    const N = 150_000
    const { input, output } = await idTopics('twice', N)
    const script = fileURLToPath(new URL('../fixtures/crash-pipeline.ts', import.meta.url))
    const env = { ...process.env, KAFKA_BROKERS: brokers(), PIPELINE: 'stateless', BATCH_RECORDS: '2000' }
    const [first, second] = [await tempDir(), await tempDir()]
    const committed = (checkpoint: string) =>
      existsSync(join(checkpoint, 'commits')) && readdirSync(join(checkpoint, 'commits')).length >= 1
    const start = (checkpoint: string, instance: string) => {
      const child = spawn(process.execPath, [script, input, output, checkpoint, 'continuous'], {
        env: { ...env, INSTANCE: instance },
        stdio: ['ignore', 'ignore', 'pipe'],
      })
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString()
      })
      return { child, stderr: () => stderr, exited: new Promise((resolve) => child.on('exit', resolve)) }
    }
    // A stateless pipeline into Kafka scales out: the second instance joins the group and takes a share of
    // the partitions, each with its own transactional id (before, it fenced the first and they took turns).
    const a = start(first, 'twice-a')
    await waitFor(() => committed(first), 60_000, 'the first run to commit a batch')
    const b = start(second, 'twice-b')
    await waitFor(() => committed(second), 60_000, `the second run to commit a batch: ${b.stderr()}`)
    b.child.kill('SIGKILL')
    a.child.kill('SIGKILL')
    await Promise.all([a.exited, b.exited])
    // Both again under their names (each aborts what its predecessor left open), to the end of the input.
    // At info, a run that does not end shows its batches and rebalances in the failure (one did not end
    // within 180 s once, in a full `npm test` under load, silent at warn; not seen again in 17 runs).
    const finals = await Promise.all([
      runNode(script, [input, output, first, 'availableNow'], {
        env: { ...env, INSTANCE: 'twice-a', SLUICE_LOG_LEVEL: 'info' },
        timeoutMs: 180_000,
      }),
      runNode(script, [input, output, second, 'availableNow'], {
        env: { ...env, INSTANCE: 'twice-b', SLUICE_LOG_LEVEL: 'info' },
        timeoutMs: 180_000,
      }),
    ])
    for (const [i, final] of finals.entries())
      assert.equal(final.code, 0, `${i === 0 ? 'twice-a' : 'twice-b'}: ${final.stderr.slice(-6000)}`)
    const rows = (await readAll(output, N)).map(
      (r) => JSON.parse(r.value!.toString()) as { id: number; by: string },
    )
    const ids = rows.map((r) => r.id)
    assert.equal(new Set(ids).size, ids.length, 'no duplicates')
    assert.equal(ids.length, N)
    assert.deepEqual([...new Set(rows.map((r) => r.by))].sort(), ['twice-a', 'twice-b'], 'both wrote')
  })

  test('a stateful pipeline started a second time with another checkpoint stops with what to do', async () => {
    const { input, output } = await idTopics('twice-stateful', 20_000)
    const script = fileURLToPath(new URL('../fixtures/crash-pipeline.ts', import.meta.url))
    const env = { ...process.env, KAFKA_BROKERS: brokers(), BATCH_RECORDS: '2000' }
    const first = await tempDir()
    const running = spawn(process.execPath, [script, input, output, first, 'continuous'], {
      env: { ...env, INSTANCE: 'stateful-a' },
      stdio: 'ignore',
    })
    try {
      await waitFor(
        () => existsSync(join(first, 'commits')) && readdirSync(join(first, 'commits')).length >= 1,
        60_000,
        'the first run to commit a batch',
      )
      const second = await runNode(script, [input, output, await tempDir(), 'availableNow'], {
        env: { ...env, INSTANCE: 'stateful-b' },
        timeoutMs: 60_000,
      })
      // The fixture is a plain script: the error ends it (the CLI would exit 2 with the message).
      assert.notEqual(second.code, 0)
      assert.match(second.stderr, /SLUICE_CHECKPOINT_BEHIND_SINK/)
      assert.match(
        second.stderr,
        /If another run of this pipeline is going on with another checkpoint, stop one/,
      )
    } finally {
      running.kill('SIGKILL')
    }
  })

  // This test once failed about one run in four: not the pipeline's output (a Java consumer would have read
  // it right) but the client's read_committed filter, which hid committed records and showed aborted ones
  // after a restart (see src/connectors/kafka/read-committed.ts and the client tests).
  test('SIGKILL at random points of a stateless 200k-event run: every input once in the output', async () => {
    const N = 200_000
    const { input, output } = await idTopics('crash-map', N)
    await killFiveTimesThenFinish(input, output, { PIPELINE: 'stateless' })
    const out = await readAll(output, N)
    const seen = new Set<number>()
    for (const r of out) {
      const { id } = JSON.parse(r.value!.toString()) as { id: number }
      assert.ok(!seen.has(id), `duplicate ${id}`)
      seen.add(id)
    }
    assert.equal(seen.size, N, 'every input exactly once')
  })
})

/**
 * Runs test/fixtures/crash-pipeline.ts from `input` to `output` and kills it with SIGKILL five times, each
 * after a random number (1–6) of further committed batches and a random 0–40 ms into the next, then runs it to
 * the end of the input. The seed is fixed, so a failure repeats.
 */
async function killFiveTimesThenFinish(
  input: string,
  output: string,
  extraEnv: Record<string, string>,
): Promise<void> {
  const checkpoint = await tempDir()
  const script = fileURLToPath(new URL('../fixtures/crash-pipeline.ts', import.meta.url))
  const env = { ...process.env, KAFKA_BROKERS: brokers(), ...extraEnv }
  let seed = 12345
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    return seed / 2 ** 31
  }
  let kills = 0
  const commits = () => readdirSync(join(checkpoint, 'commits')).length
  for (let attempt = 0; attempt < 5; attempt++) {
    const child = spawn(process.execPath, [script, input, output, checkpoint, 'continuous'], {
      env: { ...env, BATCH_RECORDS: '2000' },
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    const before = existsSync(join(checkpoint, 'commits')) ? commits() : 0
    const target = before + 1 + Math.floor(random() * 6)
    const exited = await new Promise<boolean>((resolve) => {
      const timer = setInterval(() => {
        if (existsSync(join(checkpoint, 'commits')) && commits() >= target) {
          clearInterval(timer)
          setTimeout(() => child.kill('SIGKILL'), Math.floor(random() * 40))
        }
      }, 5)
      child.on('exit', (code, signal) => {
        clearInterval(timer)
        if (signal !== 'SIGKILL') assert.fail(`pipeline ended on its own (code ${code}): ${stderr}`)
        resolve(signal !== 'SIGKILL')
      })
    })
    if (!exited) kills++
  }
  const final = await runNode(script, [input, output, checkpoint, 'availableNow'], {
    env,
    timeoutMs: 300_000,
  })
  assert.equal(final.code, 0, final.stderr)
  assert.equal(kills, 5)
  const finalSummary = JSON.parse(final.stdout) as { inputRows: number }
  assert.ok(finalSummary.inputRows > 0, 'the kills interrupted the run before the end of the input')
}
