import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { ClickstreamGenerator, INJECTED_HEADER } from '../../src/clickstream/index.ts'
import { KafkaConsumer } from '../../src/connectors/kafka/consumer.ts'
import { decodePayload } from '../../src/listener/render.ts'
import { brokers, endOffsetsSum, uniqueGroup } from '../helpers/kafka.ts'
import { runSluice, Sluice } from './cli.ts'

const N = 2000
const START = '2026-03-02T09:00:00.000Z'
const OPTIONS = { seed: 31, users: 400, bad: 0.05, late: 0.05, dupes: 0.05 }
const SAME = [
  '--seed',
  String(OPTIONS.seed),
  '--users',
  String(OPTIONS.users),
  '--start-time',
  START,
  '--bad',
  String(OPTIONS.bad),
  '--late',
  String(OPTIONS.late),
  '--dupes',
  String(OPTIONS.dupes),
]

/** A value as comparable text, the same whether it comes from a file line or from `listen --json`. */
function normalise(bytes: Buffer): string {
  const p = decodePayload(bytes)
  if (p.kind === 'json') return `json:${JSON.stringify(p.value)}`
  if (p.kind === 'text') return `text:${p.text}`
  if (p.kind === 'binary') return `base64:${p.base64}`
  return 'null'
}

function normaliseListened(line: { value: unknown; valueFormat?: string }): string {
  if (line.valueFormat === 'text') return `text:${line.value}`
  if (line.valueFormat === 'base64') return `base64:${line.value}`
  return `json:${JSON.stringify(line.value)}`
}

function tally(values: Iterable<string>): Map<string, number> {
  const counts = new Map<string, number>()
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1)
  return counts
}

interface ListenedRecord {
  partition: number
  offset: string
  key: string | null
  value: unknown
  valueFormat?: string
}

describe('sluice produce to a real broker', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-produce-kafka-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  test('the topic holds exactly the --out events of the same seed, in order per user', async () => {
    const topic = uniqueGroup('produce-readback')
    const produced = await runSluice([
      'produce',
      '--topic',
      topic,
      '--partitions',
      '3',
      '--count',
      String(N),
      ...SAME,
    ])
    assert.equal(produced.code, 0, produced.stderr)
    assert.match(produced.stderr, new RegExp(`^Created topic ${topic} with 3 partitions\\.$`, 'm'))
    const summary =
      /^Produced (\d+) events to (\S+) in [\d.]+ s \(\d+ events\/s, [\d.]+ MB\/s\): (\d+) bad, (\d+) late, (\d+) duplicates\.$/m.exec(
        produced.stderr,
      )
    assert.ok(summary, produced.stderr)
    assert.equal(Number(summary[1]), N)
    assert.equal(summary[2], topic)
    assert.equal(await endOffsetsSum(topic), N, 'the summary counts exactly what the topic holds')

    const out = join(dir, 'same.jsonl')
    const written = await runSluice(['produce', '--out', out, '--count', String(N), ...SAME])
    assert.equal(written.code, 0, written.stderr)
    const file = await readFile(out)
    const lines: Buffer[] = []
    for (let at = 0; at < file.length; ) {
      const end = file.indexOf(0x0a, at)
      lines.push(file.subarray(at, end))
      at = end + 1
    }
    assert.equal(lines.length, N)

    const listened = await runSluice([
      'listen',
      '--topic',
      topic,
      '--from-beginning',
      '--max',
      String(N),
      '--json',
    ])
    assert.equal(listened.code, 0, listened.stderr)
    const records = listened.stdout
      .toString()
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as ListenedRecord)
    assert.equal(records.length, N)
    assert.deepEqual(tally(records.map(normaliseListened)), tally(lines.map(normalise)))

    // Per key (user), the topic has the file's order: the generator gives the keys the file has no room for.
    const generator = new ClickstreamGenerator({ ...OPTIONS, startTime: Date.parse(START) })
    const expectedByKey = new Map<string, string[]>()
    for (const line of lines) {
      const record = generator.next()
      assert.ok(record.value.equals(line))
      expectedByKey.set(record.key, [...(expectedByKey.get(record.key) ?? []), normalise(line)])
    }
    const actualByKey = new Map<string, string[]>()
    const ordered = [...records].sort(
      (a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset),
    )
    for (const r of ordered) {
      assert.ok(r.key)
      actualByKey.set(r.key, [...(actualByKey.get(r.key) ?? []), normaliseListened(r)])
    }
    assert.deepEqual(actualByKey, expectedByKey)

    // Injected records are marked by a header, and the marks add up to the summary.
    const consumer = new KafkaConsumer({
      brokers: brokers(),
      groupId: uniqueGroup('produce-headers'),
      topics: [topic],
    })
    const marks = new Map<string, number>()
    let seen = 0
    try {
      for await (const batch of consumer.batches({
        maxRecords: 1000,
        lingerMs: 20,
        idleMs: 200,
        signal: AbortSignal.timeout(20_000),
      })) {
        for (const record of batch) {
          seen++
          for (const [k, v] of record.headers)
            if (k.toString() === INJECTED_HEADER) marks.set(v.toString(), (marks.get(v.toString()) ?? 0) + 1)
        }
        if (seen >= N) break
      }
    } finally {
      await consumer.close()
    }
    const bad = [...marks].filter(([k]) => k.startsWith('bad:')).reduce((s, [, c]) => s + c, 0)
    assert.equal(bad, Number(summary[3]))
    assert.equal(marks.get('late') ?? 0, Number(summary[4]))
    assert.equal(marks.get('dupe') ?? 0, Number(summary[5]))
    assert.ok(bad > 40 && bad < 160, `${bad} bad of ${N}`)
  })

  test('a consumer reads a backlog larger than its buffer (4096 records) to the end', async () => {
    const topic = uniqueGroup('produce-backlog')
    const count = 120_000
    const produced = await runSluice([
      'produce',
      '--topic',
      topic,
      '--count',
      String(count),
      '--rate',
      'unlimited',
      '--seed',
      '4',
    ])
    assert.equal(produced.code, 0, produced.stderr)
    // Batches bigger than the consumer's buffer, as bench/produce.ts reads them.
    const consumer = new KafkaConsumer({
      brokers: brokers(),
      groupId: uniqueGroup('backlog'),
      topics: [topic],
    })
    let seen = 0
    try {
      for await (const batch of consumer.batches({ maxRecords: 5000, lingerMs: 5, idleMs: 3000 })) {
        if (batch.length === 0) break
        seen += batch.length
        if (seen >= count) break
      }
    } finally {
      await consumer.close()
    }
    assert.equal(seen, count, 'no stall before the end of the backlog')
  })

  test('Ctrl-C stops producing, flushes, and reports exactly what was delivered', async () => {
    const topic = uniqueGroup('produce-interrupt')
    const run = new Sluice(['produce', '--topic', topic, '--rate', '4000', '--seed', '3'])
    try {
      await run.waitForStderr(/Created topic/)
      await new Promise((resolve) => setTimeout(resolve, 1500))
      const finished = await run.stop('SIGINT')
      assert.equal(finished.code, 0, finished.stderr)
      const summary = /^Interrupted\. Produced (\d+) events to (\S+) in/m.exec(finished.stderr)
      assert.ok(summary, finished.stderr)
      const delivered = Number(summary[1])
      assert.ok(delivered > 1000, `${delivered} delivered`)
      assert.equal(await endOffsetsSum(topic), delivered)
    } finally {
      run.kill()
    }
  })
})
