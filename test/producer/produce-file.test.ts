import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { brokers, endOffsetsSum, readRecords, topicExists, uniqueGroup } from '../helpers/kafka.ts'
import { errorLine, runSluice } from './cli.ts'

/** `sluice produce --file PATH [--key FIELD]`: a file's lines to a topic, as `kcat -P` loads test data. */

const SUMMARY = /^Produced (\d+) records from (\S+) to (\S+) in [\d.]+ s \(\d+ records\/s, [\d.]+ MB\/s\)\.$/m

describe('sluice produce --file', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-produce-file-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  test('JSON lines keyed by a field: each line byte for byte, keyed, the summary counting them exactly', async () => {
    const events = Array.from({ length: 3000 }, (_, i) => ({
      id: `e${i}`,
      user: { id: `u${i % 17}` },
      text: i % 100 === 0 ? 'grüße 日本' : 'x',
    }))
    // As written, not as JSON.stringify would write them: the spaces must survive.
    const lines = events.map((e) => `{"id": "${e.id}", "user": {"id": "${e.user.id}"}, "text": "${e.text}"}`)
    // A byte order mark, a CRLF line, blank lines and no final line break: all framing, none of it data.
    const path = join(dir, 'events.jsonl')
    await writeFile(
      path,
      Buffer.concat([
        Buffer.from([0xef, 0xbb, 0xbf]),
        Buffer.from(`${lines[0]}\r\n\n   \n${lines.slice(1).join('\n')}`),
      ]),
    )
    const topic = uniqueGroup('produce-file')
    const result = await runSluice([
      'produce',
      '--file',
      path,
      '--key',
      'user.id',
      '--topic',
      topic,
      '--partitions',
      '4',
      '--batch-size',
      '500',
    ])
    assert.equal(result.code, 0, result.stderr)
    const summary = SUMMARY.exec(result.stderr)
    assert.ok(summary, result.stderr)
    assert.equal(Number(summary[1]), lines.length)
    assert.equal(summary[3], topic)
    assert.equal(await endOffsetsSum(topic), lines.length)

    const records = await readRecords(topic, lines.length)
    const byId = new Map(records.map((r) => [JSON.parse(r.value!.toString()).id as string, r]))
    assert.equal(byId.size, lines.length, 'each line once')
    events.forEach((e, i) => {
      const record = byId.get(e.id)!
      assert.deepEqual(record.value, Buffer.from(lines[i]!))
      assert.equal(record.key?.toString(), e.user.id)
    })
    // Per key, the file's order.
    const order = new Map<string, string[]>()
    for (const r of records) {
      const key = r.key!.toString()
      order.set(key, [...(order.get(key) ?? []), JSON.parse(r.value!.toString()).id])
    }
    for (const [key, ids] of order)
      assert.deepEqual(
        ids,
        events.filter((e) => e.user.id === key).map((e) => e.id),
      )
  })

  test('without --key any lines go as they are, unkeyed (not JSON, not even UTF-8)', async () => {
    const lines = [Buffer.from('plain text'), Buffer.from([0xff, 0xfe, 0x41]), Buffer.from('{"half": ')]
    const path = join(dir, 'raw.txt')
    await writeFile(path, Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')])))
    const topic = uniqueGroup('produce-raw')
    const result = await runSluice(['produce', '--file', path, '--topic', topic, '--partitions', '1'])
    assert.equal(result.code, 0, result.stderr)
    assert.equal(Number(SUMMARY.exec(result.stderr)?.[1]), 3)
    const records = await readRecords(topic, 3)
    assert.deepEqual(
      records.map((r) => r.value),
      lines,
    )
    assert.ok(records.every((r) => r.key === null || r.key === undefined))
  })

  test('with --key, bad lines are named (file:line: reason) and nothing is produced, exit 2', async () => {
    const path = join(dir, 'bad.jsonl')
    await writeFile(
      path,
      [
        '{"id":"a"}',
        'not json',
        '',
        '[1,2]',
        '{"id":null}',
        '{"other":1}',
        '{"id":{"nested":true}}',
        '{"id":12345678901234567890}',
        '{"id":7}',
      ].join('\n'),
    )
    const topic = uniqueGroup('produce-bad')
    const result = await runSluice(['produce', '--file', path, '--key', 'id', '--topic', topic])
    assert.equal(result.code, 2, result.stderr)
    assert.doesNotMatch(result.stderr, /^\s+at /m)
    const lines = result.stderr.trimEnd().split('\n')
    assert.ok(lines[0]!.startsWith(`sluice: ${path}:2: not JSON (`), lines[0])
    assert.deepEqual(lines.slice(1, 5), [
      `${path}:4: not a JSON object but an array`,
      `${path}:5: "id" is null, not a string or a number`,
      `${path}:6: no field "id"`,
      `${path}:7: "id" is an object, not a string or a number`,
    ])
    assert.match(lines[5]!, /6 lines without a key \(the first 5 shown\).*Nothing was produced/)
    assert.equal(lines.length, 6)
    assert.equal(await topicExists(topic), false)
  })

  test('usage errors: generator flags with --file, --key without it, a missing file', async () => {
    for (const [args, pattern] of [
      [
        ['--file', 'x.jsonl', '--seed', '3', '--bad', '0.1'],
        /--seed, --bad shape simulated events: not with --file/,
      ],
      [['--key', 'id'], /--key keys the lines of --file/],
      [['--file', join(dir, 'missing.jsonl')], /missing\.jsonl: no such file/],
      [['--file', dir], /is not a regular file/],
    ] as const) {
      const result = await runSluice(['produce', ...args, '--brokers', brokers()])
      assert.equal(result.code, 2, args.join(' '))
      assert.match(errorLine(result), pattern)
    }
  })
})
