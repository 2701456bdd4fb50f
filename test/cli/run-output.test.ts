import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { KafkaProducer } from '../../src/connectors/kafka/producer.ts'
import { runCli } from '../helpers/cli.ts'
import { brokers, freshTopic } from '../helpers/kafka.ts'
import { Sluice } from '../producer/cli.ts'

/**
 * What `sluice run` prints: a status line per pipeline and the summary, warnings and errors; the per-batch
 * log lines only with --log-level info (or --verbose).
 */

const N = 2000
let dir: string
let input: string

/** The structured (JSON) log lines of a non-terminal stderr. */
function logLines(stderr: string): { level: number; msg: string }[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: number; msg: string })
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-run-output-'))
  input = await freshTopic('run-output-in', 2)
  const producer = new KafkaProducer({ brokers: brokers() })
  try {
    await producer.send(
      Array.from({ length: N }, (_, i) => ({ topic: input, key: `k${i}`, value: JSON.stringify({ id: i }) })),
    )
  } finally {
    await producer.close()
  }
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function yamlPipeline(name: string): Promise<string> {
  const output = await freshTopic(`${name}-out`, 1)
  const file = join(dir, `${name}.yaml`)
  await writeFile(
    file,
    `pipeline: ${name}\nsource: { kafka: { topics: ${input}, startingOffsets: earliest } }\nsteps:\n  - map: { id: event.id }\nsink: { kafka: { topic: ${output} } }\n`,
  )
  return file
}

function bounded(file: string, name: string, ...flags: string[]) {
  return runCli(
    ['run', file, '--available-now', '--brokers', brokers(), '--checkpoint', join(dir, name), ...flags],
    { timeoutMs: 120_000 },
  )
}

describe('sluice run output', () => {
  test('a bounded run prints status and summary, no log lines', async () => {
    const file = await yamlPipeline('quiet-bounded')
    const r = await bounded(file, 'quiet-bounded')
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(logLines(r.stderr), [], r.stderr)
    assert.match(r.stderr, new RegExp(`^quiet-bounded: ${N} records in .*, ${N} rows out`, 'm'))
    assert.match(r.stderr, /^quiet-bounded {2}/m, 'a status line')
  })

  for (const flags of [['--log-level', 'info'], ['--verbose']]) {
    test(`${flags.join(' ')} adds the per-batch log lines`, async () => {
      const name = `logged-${flags[0]!.slice(2)}`
      const r = await bounded(await yamlPipeline(name), name, ...flags)
      assert.equal(r.code, 0, r.stderr)
      assert.ok(
        logLines(r.stderr).some((l) => /^batch 0: /.test(l.msg)),
        `a batch log line in:\n${r.stderr}`,
      )
      assert.match(r.stderr, new RegExp(`^${name}: ${N} records in`, 'm'))
    })
  }

  test('an unknown --log-level is a usage error (exit 2)', async () => {
    const r = await runCli(['run', join(dir, 'none.yaml'), '--log-level', 'loud'])
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr, /--log-level.*expected one of .*info/)
  })

  test('a streaming run of two pipelines prints one status line per pipeline, no log lines', async () => {
    const url = (path: string) => new URL(`../../src/${path}`, import.meta.url).href
    const outA = await freshTopic('stream-a-out', 1)
    const outB = await freshTopic('stream-b-out', 1)
    const file = join(dir, 'two.ts')
    await writeFile(
      file,
      [
        `import { kafkaSink } from '${url('connectors/kafka/sink.ts')}'`,
        `import { kafka } from '${url('connectors/kafka/source.ts')}'`,
        `import { pipeline } from '${url('dsl/stream.ts')}'`,
        `const from = () => kafka({ topics: '${input}', startingOffsets: 'earliest' })`,
        `const a = pipeline('stream-a').from(from()).to(kafkaSink({ topic: '${outA}' }))`,
        `const b = pipeline('stream-b').from(from()).to(kafkaSink({ topic: '${outB}' }))`,
        'export default [a, b]',
        '',
      ].join('\n'),
    )
    const running = new Sluice([
      'run',
      file,
      '--trigger',
      '500ms',
      '--brokers',
      brokers(),
      '--checkpoint',
      join(dir, 'stream'),
    ])
    try {
      const status = (id: string) => new RegExp(`^${id} {2}${N.toLocaleString('en-US')} records {2}`, 'm')
      await running.waitFor(
        () => status('stream-a').test(running.stderr) && status('stream-b').test(running.stderr),
        'a status line per pipeline with every input record',
        60_000,
      )
      const finished = await running.stop('SIGINT')
      assert.equal(finished.code, 0, finished.stderr)
      assert.deepEqual(logLines(finished.stderr), [], finished.stderr)
      assert.doesNotMatch(finished.stderr, / \| /, 'no line holds two pipelines')
      assert.match(finished.stderr, new RegExp(`^stream-a: ${N} records in`, 'm'))
      assert.match(finished.stderr, new RegExp(`^stream-b: ${N} records in`, 'm'))
    } finally {
      running.kill()
    }
  })
})
