import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import { generator } from '../../src/connectors/testing/generator-source.ts'
import { memorySource } from '../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { KafkaError, SluiceError } from '../../src/errors.ts'
import { BOUNDED_RETRY_TIMEOUT_MS, Restarts } from '../../src/runtime/restarts.ts'
import { run } from '../../src/runtime/run.ts'
import type { SinkSpec } from '../../src/runtime/sink.ts'
import { runSluice, Sluice } from '../producer/cli.ts'

/**
 * Failures that retrying can fix restart a run from its checkpoint with backoff, each restart one warning with
 * the cause and the wait; a bounded run gives up after its retry timeout (exit 1), a streaming one keeps going.
 */

const FIXTURE = fileURLToPath(new URL('../fixtures/kafka-pipeline.ts', import.meta.url))
const NOWHERE = '127.0.0.1:1'

let dir: string
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-run-retry-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

interface LogLine {
  level: number
  msg: string
  pipeline?: string
  retry?: { cause: string; waitMs: number; restart: number }
}

function logLines(stderr: string): LogLine[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine)
}

describe('sluice run against a broker it cannot reach', () => {
  test('--available-now gives up after --retry-timeout, exit 1; --brokers wins over the brokers a TS pipeline names', async () => {
    const result = await runSluice([
      'run',
      FIXTURE,
      '--available-now',
      '--brokers',
      NOWHERE,
      '--retry-timeout',
      '3s',
      '--checkpoint',
      join(dir, 'bounded'),
    ])
    assert.equal(result.code, 1, result.stderr)
    const warnings = logLines(result.stderr)
    assert.ok(warnings.length >= 1, result.stderr)
    warnings.forEach((w, i) => {
      assert.equal(w.level, 40)
      assert.equal(w.pipeline, 'fixture-copy')
      // One line: the cause (naming the broker from the flag), the wait, how long until giving up.
      assert.match(
        w.msg,
        /127\.0\.0\.1:1.*; restarting from the checkpoint in \d+m?s \(restart \d+; giving up in \d+s\)$/,
      )
      assert.equal(w.retry?.restart, i + 1)
    })
    const last = result.stderr.trimEnd().split('\n').at(-1)!
    assert.match(
      last,
      /^sluice: Pipeline fixture-copy gave up after failing for \d+s \(retry timeout 3s\): .*127\.0\.0\.1:1/,
    )
    assert.doesNotMatch(result.stderr, new RegExp(process.env.KAFKA_BROKERS!.replaceAll('.', '\\.')))
  })

  test('a streaming run keeps retrying, one warning per restart, until stopped', async () => {
    const running = new Sluice([
      'run',
      FIXTURE,
      '--trigger',
      '1s',
      '--brokers',
      NOWHERE,
      '--checkpoint',
      join(dir, 'streaming'),
    ])
    try {
      await running.waitFor(() => logLines(running.stderr).length >= 3, 'three restarts', 60_000)
      const finished = await running.stop('SIGINT')
      assert.equal(finished.code, 0, finished.stderr)
      for (const w of logLines(finished.stderr))
        assert.match(
          w.msg,
          /; restarting from the checkpoint in \d+m?s \(restart \d+; retrying until stopped\)$/,
        )
    } finally {
      running.kill()
    }
  })

  test('a bad --retry-timeout is a usage error', async () => {
    const result = await runSluice(['run', FIXTURE, '--retry-timeout', 'soon'])
    assert.equal(result.code, 2)
    assert.match(result.stderr, /--retry-timeout.*"forever"/)
  })
})

/** A sink that cannot open: the broker it needs is down (a retryable failure). */
function unreachableSink(opens: { count: number }): SinkSpec<unknown> {
  return {
    type: 'unreachable',
    options: {},
    create: () => ({
      description: 'unreachable',
      guarantee: 'at-least-once',
      open: async () => {
        opens.count++
        throw new KafkaError('Kafka at 10.0.0.1:9092 did not answer (test)')
      },
      write: async () => {},
      commit: async () => {},
      close: async () => {},
    }),
  }
}

function capture(): { logger: pino.Logger; lines: LogLine[] } {
  const lines: LogLine[] = []
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line) as LogLine)
      callback()
    },
  })
  return { logger: pino({ level: 'warn' }, stream), lines }
}

describe('run(): restarts in the library', () => {
  test('a bounded run gives up after retryTimeoutMs; every restart was one warning with the cause and the wait', async () => {
    const opens = { count: 0 }
    const { logger, lines } = capture()
    await assert.rejects(
      run(
        pipeline('lib-bounded')
          .from(memorySource('m', [1, 2]))
          .to(unreachableSink(opens)),
        {
          checkpoint: join(dir, 'lib-bounded'),
          trigger: { kind: 'availableNow' },
          retryTimeoutMs: 1_200,
          logger,
        },
      ),
      (error: unknown) =>
        error instanceof SluiceError &&
        error.code === 'SLUICE_RETRY_TIMEOUT' &&
        /lib-bounded gave up .*retry timeout 1s200ms.*10\.0\.0\.1:9092/.test(error.message),
    )
    // 0.5 s, then 1 s would end past 1.2 s: one restart, two opens.
    assert.equal(opens.count, 2)
    assert.deepEqual(
      lines.map((l) => l.msg),
      [
        'Kafka at 10.0.0.1:9092 did not answer (test); restarting from the checkpoint in 500ms (restart 1; giving up in 1s)',
      ],
    )
  })

  test('an unbounded run keeps restarting (here until aborted); its warnings say so', async () => {
    const opens = { count: 0 }
    const { logger, lines } = capture()
    const stop = new AbortController()
    const running = run(
      pipeline('lib-streaming')
        .from(generator({ seed: 1 }))
        .to(unreachableSink(opens)),
      {
        checkpoint: join(dir, 'lib-streaming'),
        trigger: { kind: 'continuous' },
        signal: stop.signal,
        logger,
      },
    )
    while (opens.count < 3) await new Promise((resolve) => setTimeout(resolve, 50))
    stop.abort()
    const summary = await running
    assert.ok(summary.restarts >= 2)
    for (const l of lines) assert.match(l.msg, /\(restart \d+; retrying until stopped\)$/)
  })
})

describe('Restarts: backoff and the retry timeout', () => {
  test('defaults: two minutes bounded, for ever streaming; doubling waits; progress starts afresh', () => {
    let now = 0
    const restarts = new Restarts(undefined, () => now)
    assert.equal(restarts.limit(true), BOUNDED_RETRY_TIMEOUT_MS)
    assert.equal(restarts.limit(false), Number.POSITIVE_INFINITY)
    const waits: number[] = []
    for (;;) {
      const next = restarts.next(false, true)
      if (!next.restart) {
        assert.ok(next.failingForMs + 30_000 > BOUNDED_RETRY_TIMEOUT_MS)
        break
      }
      waits.push(next.waitMs)
      now += next.waitMs + 100 // the wait, then an attempt that fails after 100 ms
    }
    assert.deepEqual(waits, [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000])
    const fresh = restarts.next(true, true)
    assert.ok(fresh.restart && fresh.waitMs === 500 && fresh.giveUpInMs === BOUNDED_RETRY_TIMEOUT_MS)
    const streaming = new Restarts(undefined, () => now)
    for (let i = 0; i < 20; i++) {
      const next = streaming.next(false, false)
      assert.ok(next.restart && next.giveUpInMs === Number.POSITIVE_INFINITY)
      now += 10 * 60_000
    }
  })
})
