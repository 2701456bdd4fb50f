import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { ClickstreamGenerator } from '../../src/clickstream/index.ts'
import { uniqueGroup } from '../helpers/kafka.ts'
import { errorLine, runSluice } from './cli.ts'

const START = '2026-03-02T09:00:00.000Z'
const SAME = [
  '--seed',
  '9',
  '--start-time',
  START,
  '--users',
  '300',
  '--bad',
  '0.05',
  '--late',
  '0.05',
  '--dupes',
  '0.05',
]

describe('sluice produce: errors are one clear line and a non-zero exit', () => {
  test('a bad number', async () => {
    const result = await runSluice(['produce', '--rate', 'abc'])
    assert.equal(result.code, 2)
    assert.match(errorLine(result), /--rate.*abc/)
  })

  test('an unknown flag', async () => {
    const result = await runSluice(['produce', '--bogus'])
    assert.equal(result.code, 2)
    assert.match(errorLine(result), /unknown option '--bogus'/)
  })

  test('a fraction out of range, conflicting flags, an unsupported format', async () => {
    for (const [args, pattern] of [
      [['--bad', '1.5'], /--bad.*1\.5/],
      [['--bad', '0.6', '--late', '0.6'], /at most 1/],
      [['--count', '5', '--duration', '1s'], /--count and --duration/],
      [['--format', 'avro'], /--format avro needs a schema registry: --registry URL/],
      [['--format', 'xml'], /Unknown --format "xml": expected json, avro, protobuf, json-schema/],
      [['--partitions', '2', '--no-create-topic'], /--no-create-topic/],
      [['--count', '0'], /--count.*"0"/],
    ] as const) {
      const result = await runSluice(['produce', ...args, '--dry-run'])
      assert.equal(result.code, 2, args.join(' '))
      assert.match(errorLine(result), pattern)
    }
  })

  test('an unreachable broker: one line naming it; --verbose adds the stack trace', async () => {
    const result = await runSluice(['produce', '--brokers', '127.0.0.1:1', '--count', '5'])
    assert.notEqual(result.code, 0)
    assert.match(errorLine(result), /^sluice: .*127\.0\.0\.1:1/)
    const verbose = await runSluice(['produce', '--brokers', '127.0.0.1:1', '--count', '5', '--verbose'])
    assert.notEqual(verbose.code, 0)
    assert.match(verbose.stderr, /^\s+at /m)
  })

  test('a missing topic with creation disabled', async () => {
    const topic = uniqueGroup('produce-missing')
    const result = await runSluice(['produce', '--topic', topic, '--no-create-topic', '--count', '5'])
    assert.notEqual(result.code, 0)
    assert.match(errorLine(result), new RegExp(`Topic "${topic}" does not exist`))
  })
})

describe('sluice produce --dry-run / --out', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-produce-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  test('the same seed and start time give the same bytes, whatever the rate and batch size', async () => {
    const fast = await runSluice(['produce', '--out', join(dir, 'fast.jsonl'), '--count', '3000', ...SAME])
    assert.equal(fast.code, 0, fast.stderr)
    assert.match(fast.stderr, new RegExp(`^Wrote 3000 events to ${join(dir, 'fast.jsonl')} in `, 'm'))
    const paced = await runSluice([
      'produce',
      '--out',
      join(dir, 'paced.jsonl'),
      '--count',
      '3000',
      '--rate',
      '10000',
      '--batch-size',
      '7',
      ...SAME,
    ])
    assert.equal(paced.code, 0, paced.stderr)
    const stdout = await runSluice(['produce', '--dry-run', '--count', '3000', ...SAME])
    assert.equal(stdout.code, 0, stdout.stderr)
    assert.match(stdout.stderr, /^Wrote 3000 events to stdout/m)

    const file = await readFile(join(dir, 'fast.jsonl'))
    assert.ok(file.equals(await readFile(join(dir, 'paced.jsonl'))))
    assert.ok(file.equals(stdout.stdout))
    // One line per record: the value bytes the library generates, in order.
    const generator = new ClickstreamGenerator({
      seed: 9,
      users: 300,
      startTime: Date.parse(START),
      bad: 0.05,
      late: 0.05,
      dupes: 0.05,
    })
    const expected = Buffer.concat(
      Array.from({ length: 3000 }, () => [generator.next().value, Buffer.from('\n')]).flat(),
    )
    assert.ok(file.equals(expected))

    const other = await runSluice([
      'produce',
      '--dry-run',
      '--count',
      '3000',
      ...SAME.slice(0, 1),
      '10',
      ...SAME.slice(2),
    ])
    assert.ok(!other.stdout.equals(file), 'another seed gives other events')
  })

  test('without --seed the run says how to replay it', async () => {
    const result = await runSluice(['produce', '--dry-run', '--count', '3'])
    assert.equal(result.code, 0)
    assert.match(
      result.stderr,
      /Replay these events with --seed \d+ --start-time \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z/,
    )
    assert.equal(result.stdout.toString().trimEnd().split('\n').length, 3)
  })
})
