import assert from 'node:assert/strict'
import { appendFile, mkdir, stat, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { type FileRecord, files } from '../../../src/connectors/files/index.ts'
import { memory } from '../../../src/connectors/testing/memory.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { SluiceError, UsageError } from '../../../src/errors.ts'
import { run } from '../../../src/runtime/run.ts'
import { context, drain, fileOf, pollOptions, tempDir } from './helpers.ts'

describe('files() reader', () => {
  test('a missing path is a UsageError at open (and fails the run)', async () => {
    const dir = await tempDir()
    const missing = join(dir, 'nope', 'events.jsonl')
    const reader = files({ path: missing, format: 'jsonl' }).create(context)
    await assert.rejects(reader.open(undefined), (error: unknown) => {
      assert.ok(error instanceof UsageError)
      assert.match(error.message, /nope\/events\.jsonl does not exist/)
      return true
    })
    await assert.rejects(
      run(
        pipeline('files-missing')
          .from(files({ path: missing, format: 'jsonl' }))
          .to(memory()),
        {
          trigger: { kind: 'availableNow' },
          checkpoint: await tempDir('sluice-ckpt-'),
        },
      ),
      UsageError,
    )
    assert.throws(
      () => files({ path: dir, format: 'xml' as 'csv' }),
      (error: unknown) => error instanceof UsageError,
    )
  })

  test('a single file: its name is the partition; offsets are byte offsets; the last line needs no line break', async () => {
    const dir = await tempDir()
    const path = join(dir, 'events.jsonl')
    const file = fileOf(['\ufeff{"n":1}', '{"n":2}', '{"n":3}'])
    await writeFile(path, file.content.subarray(0, -1))
    const reader = files({ path, format: 'jsonl' }).create(context)
    await reader.open(undefined)
    assert.equal(reader.bounded, true)
    const end = await reader.endPositions()
    assert.deepEqual(end, { 'events.jsonl': file.content.length - 1 })
    assert.deepEqual([...(reader.pendingPartitions?.() ?? [])], ['events.jsonl'])
    assert.equal(reader.caughtUp?.(end), false)
    const records = await drain(reader)
    assert.deepEqual(
      records.map((r) => [r.partition, r.offset, r.value, r.key]),
      [
        ['events.jsonl', 0, '{"n":1}', null],
        ['events.jsonl', file.offsets[1], '{"n":2}', null],
        ['events.jsonl', file.offsets[2], '{"n":3}', null],
      ],
    )
    const mtime = Math.trunc((await stat(path)).mtimeMs)
    assert.ok(records.every((r) => r.timestamp === mtime))
    assert.equal(reader.caughtUp?.(end), true)
    assert.deepEqual([...(reader.pendingPartitions?.() ?? [])], [])
  })

  test('`until` stops each file exactly where a logged batch ended; a later poll continues', async () => {
    const dir = await tempDir()
    const a = fileOf(['{"a":0}', '{"a":1}', '{"a":2}', '{"a":3}'])
    const b = fileOf(['{"b":0}', '{"b":1}'])
    await writeFile(join(dir, 'a.jsonl'), a.content)
    await writeFile(join(dir, 'b.jsonl'), b.content)
    const reader = files({ path: dir, format: 'jsonl' }).create(context)
    await reader.open({ 'a.jsonl': a.offsets[0]! + 1 })
    const replay = await reader.poll(pollOptions({ until: { 'a.jsonl': a.offsets[2]! + 1, 'b.jsonl': 1 } }))
    assert.deepEqual(
      replay.map((r) => r.value),
      ['{"a":1}', '{"a":2}', '{"b":0}'],
    )
    assert.deepEqual(await reader.poll(pollOptions({ until: { 'a.jsonl': a.offsets[2]! + 1 } })), [])
    assert.deepEqual(
      (await drain(reader)).map((r) => r.value),
      ['{"a":3}', '{"b":1}'],
    )
  })

  test('maxRecords and maxBytes bound a poll', async () => {
    const dir = await tempDir()
    await writeFile(join(dir, 'x.jsonl'), fileOf(Array.from({ length: 50 }, (_, i) => `{"i":${i}}`)).content)
    const reader = files({ path: dir, format: 'jsonl' }).create(context)
    await reader.open(undefined)
    assert.equal((await reader.poll(pollOptions({ maxRecords: 7 }))).length, 7)
    assert.equal((await reader.poll(pollOptions({ maxBytes: 1 }))).length, 1)
    assert.equal((await drain(reader)).length, 42)
  })

  test('lines longer than a read window; longer than maxRecordBytes is an error', async () => {
    const dir = await tempDir()
    const path = join(dir, 'long.jsonl')
    const long = JSON.stringify({ text: 'x'.repeat(700_000) })
    await writeFile(path, fileOf(['{"i":0}', long, '{"i":2}']).content)
    const reader = files({ path, format: 'jsonl' }).create(context)
    await reader.open(undefined)
    assert.deepEqual(
      (await drain(reader)).map((r) => r.value),
      ['{"i":0}', long, '{"i":2}'],
    )
    const limited = files({ path, format: 'jsonl', maxRecordBytes: 100_000 }).create(context)
    await limited.open(undefined)
    await assert.rejects(drain(limited), (error: unknown) => {
      assert.ok(error instanceof SluiceError)
      assert.equal(error.code, 'SLUICE_FILE_RECORD_TOO_LONG')
      return true
    })
  })

  test('directories: recursive, name order, only the format extension, hidden entries skipped', async () => {
    const dir = await tempDir()
    await mkdir(join(dir, '2026', '03'), { recursive: true })
    await mkdir(join(dir, '.tmp'))
    await writeFile(join(dir, '2026', '03', '02.csv'), 'k\n3\n')
    await writeFile(join(dir, '2026', '03', '01.CSV'), 'k\n2\n')
    await writeFile(join(dir, 'a.csv'), 'k\n1\n')
    await writeFile(join(dir, '.tmp', 'x.csv'), 'k\nhidden\n')
    await writeFile(join(dir, 'readme.md'), 'k\nnot csv\n')
    const reader = files({ path: dir, format: 'csv' }).create(context)
    await reader.open(undefined)
    assert.deepEqual(
      (await drain(reader)).map((r) => [r.partition, r.value]),
      [
        ['2026/03/01.CSV', { k: '2' }],
        ['2026/03/02.csv', { k: '3' }],
        ['a.csv', { k: '1' }],
      ],
    )
  })

  test('a CSV header that names a column twice is a UsageError', async () => {
    const dir = await tempDir()
    await writeFile(join(dir, 'dup.csv'), 'a,b,a\n1,2,3\n')
    const reader = files({ path: dir, format: 'csv' }).create(context)
    await reader.open(undefined)
    await assert.rejects(drain(reader), /names column "a" twice/)
  })

  test('watch mode: a partial last line waits for its line break; new files are picked up; truncation fails', async () => {
    const dir = await tempDir()
    const path = join(dir, 'a.jsonl')
    await writeFile(path, '{"n":1}\n{"n":')
    const reader = files({ path: dir, format: 'jsonl', watch: true, pollIntervalMs: 10 }).create(context)
    await reader.open(undefined)
    assert.equal(reader.bounded, false)
    assert.deepEqual(
      (await reader.poll(pollOptions())).map((r) => r.value),
      ['{"n":1}'],
    )
    const started = performance.now()
    assert.deepEqual(await reader.poll(pollOptions({ idleMs: 150 })), [])
    assert.ok(performance.now() - started >= 140, 'an empty poll waits idleMs for data')
    // availableNow in watch mode: the end is the size now; the incomplete line does not hold the run back.
    const end = await reader.endPositions()
    assert.equal(reader.caughtUp?.(end), true)

    await appendFile(path, '2}\n')
    await writeFile(join(dir, 'b.jsonl'), '{"b":1}\n')
    const controller = new AbortController()
    const waiting = reader.poll(pollOptions({ idleMs: 5_000, signal: controller.signal }))
    assert.deepEqual(
      (await waiting).map((r) => [r.partition, r.value]),
      [
        ['a.jsonl', '{"n":2}'],
        ['b.jsonl', '{"b":1}'],
      ],
    )
    const aborted = reader.poll(pollOptions({ idleMs: 10_000, signal: controller.signal }))
    setTimeout(() => controller.abort(), 30)
    const before = performance.now()
    assert.deepEqual(await aborted, [])
    assert.ok(performance.now() - before < 2_000, 'an abort ends the wait')

    await truncate(path, 3)
    await assert.rejects(reader.poll(pollOptions()), /shrank/)
  })

  test('CSV in watch mode: a header still being written, then rows as they complete', async () => {
    const dir = await tempDir()
    const path = join(dir, 'live.csv')
    await writeFile(path, 'id,na')
    const reader = files({ path, format: 'csv', watch: true }).create(context)
    await reader.open(undefined)
    assert.deepEqual(await reader.poll(pollOptions()), [])
    await appendFile(path, 'me\n1,"multi')
    assert.deepEqual(await reader.poll(pollOptions()), [])
    await appendFile(path, '\nline"\n2,b')
    const first = (await reader.poll(pollOptions())) as FileRecord[]
    assert.deepEqual(
      first.map((r) => r.value),
      [{ id: '1', name: 'multi\nline' }],
    )
    await appendFile(path, 'ee\n')
    assert.deepEqual(
      (await reader.poll(pollOptions())).map((r) => r.value),
      [{ id: '2', name: 'bee' }],
    )
  })
})
