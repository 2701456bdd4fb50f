import assert from 'node:assert/strict'
import { appendFile, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { z } from 'zod'
import { files } from '../../../src/connectors/files/index.ts'
import { memory } from '../../../src/connectors/testing/memory.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { run } from '../../../src/runtime/run.ts'
import { failingOnce, fileOf, tempDir } from './helpers.ts'

const Event = z.object({ id: z.number().int(), user: z.string() })
type Event = z.output<typeof Event>

function events(from: number, n: number): Event[] {
  return Array.from({ length: n }, (_, i) => ({ id: from + i, user: `u${(from + i) % 7}` }))
}

const jsonLines = (rows: readonly Event[]) => rows.map((r) => JSON.stringify(r))

describe('files() jsonl through the runtime', () => {
  test('a directory of files, read in name order: output equals input, bad lines dead-lettered at their byte offset', async () => {
    const dir = await tempDir()
    await mkdir(join(dir, 'sub'))
    const a = events(0, 5)
    const b = events(100, 4)
    const invalidUtf8 = Buffer.concat([
      Buffer.from('{"id":99,"user":"'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}'),
    ])
    const fileA = fileOf([
      jsonLines(a)[0]!,
      '',
      jsonLines(a)[1]!,
      '{"id": 3, "user": ',
      jsonLines(a)[2]!,
      invalidUtf8,
      `  ${jsonLines(a)[3]!}  `,
      '{"id":"seven","user":"x"}',
      jsonLines(a)[4]!,
    ])
    // CRLF line ends, and a last line without a line break (complete in a bounded run).
    const fileB = fileOf(jsonLines(b), '\r\n')
    await writeFile(join(dir, 'a.jsonl'), fileA.content)
    await writeFile(join(dir, 'sub', 'b.ndjson'), fileB.content.subarray(0, -2))
    await writeFile(join(dir, '.hidden.jsonl'), '{"id":-1,"user":"hidden"}\n')
    await writeFile(join(dir, 'notes.txt'), 'not a jsonl file\n')

    const sink = memory<Event>()
    const summary = await run(
      pipeline('files-jsonl')
        .from(files({ path: dir, format: 'jsonl' }))
        .parse(Event)
        .to(sink),
      { trigger: { kind: 'availableNow' }, checkpoint: await tempDir('sluice-ckpt-') },
    )
    assert.deepEqual(sink.rows, [...a, ...b])
    assert.equal(summary.inputRows, 8 + 4)
    assert.equal(summary.deadLetteredRows, 3)
    const dead = sink.deadLetters.map((d) => ({
      partition: d.partition,
      offset: d.offset,
      reason: d.reason.replace(/:.*/s, ''),
    }))
    assert.deepEqual(dead, [
      { partition: 'a.jsonl', offset: fileA.offsets[3], reason: 'malformed JSON' },
      { partition: 'a.jsonl', offset: fileA.offsets[5], reason: 'invalid UTF-8' },
      { partition: 'a.jsonl', offset: fileA.offsets[7], reason: 'schema violation' },
    ])
    assert.equal(sink.deadLetters[0]!.raw, '{"id": 3, "user": ')
    assert.deepEqual(sink.deadLetters[1]!.raw, invalidUtf8)
    assert.equal(sink.deadLetters[1]!.timestamp > 0, true)
  })

  test('restarts: one small batch per run, then a crash before a commit; every line exactly once', async () => {
    const dir = await tempDir()
    const all = events(0, 300)
    await writeFile(join(dir, '1.jsonl'), fileOf(jsonLines(all.slice(0, 120))).content)
    await writeFile(join(dir, '2.jsonl'), fileOf(jsonLines(all.slice(120, 130))).content)
    await writeFile(join(dir, '3.jsonl'), fileOf(jsonLines(all.slice(130))).content)
    const checkpoint = await tempDir('sluice-ckpt-')
    const sink = failingOnce<Event>(5)
    const make = () =>
      pipeline('files-restart')
        .from(files({ path: dir, format: 'jsonl' }))
        .parse(Event)
    let runs = 0
    let failures = 0
    for (; runs < 100; runs++) {
      try {
        const summary = await run(make().to(sink.sink), {
          trigger: { kind: 'availableNow' },
          checkpoint,
          maxBatches: 1,
          maxBatchRecords: 23,
        })
        if (summary.batches === 0) break
      } catch (error) {
        assert.match((error as Error).message, /injected failure/)
        failures++
      }
    }
    assert.equal(failures, 1)
    assert.ok(sink.failed)
    assert.equal(runs, Math.ceil(300 / 23) + 1)
    assert.deepEqual(sink.memory.rows, all)
  })

  test('a file that grew between two bounded runs: the second run reads only the appended lines', async () => {
    const dir = await tempDir()
    const path = join(dir, 'events.jsonl')
    const first = events(0, 10)
    const second = events(10, 7)
    await writeFile(path, fileOf(jsonLines(first)).content)
    const checkpoint = await tempDir('sluice-ckpt-')
    const sink = memory<Event>()
    const make = () =>
      pipeline('files-grow')
        .from(files({ path, format: 'jsonl' }))
        .parse(Event)
        .to(sink)
    await run(make(), { trigger: { kind: 'availableNow' }, checkpoint })
    assert.deepEqual(sink.rows, first)
    await appendFile(path, fileOf(jsonLines(second)).content)
    const summary = await run(make(), { trigger: { kind: 'availableNow' }, checkpoint })
    assert.equal(summary.inputRows, second.length)
    assert.deepEqual(sink.rows, [...first, ...second])
    const again = await run(make(), { trigger: { kind: 'availableNow' }, checkpoint })
    assert.equal(again.inputRows, 0)
  })
})
