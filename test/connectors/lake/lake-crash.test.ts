import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { lake } from '../../../src/connectors/lake/index.ts'
import { lakeTable } from '../../../src/connectors/lake/source.ts'
import { LocalLakeStorage } from '../../../src/connectors/lake/storage.ts'
import { memory } from '../../../src/connectors/testing/memory.ts'
import { memorySource } from '../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { run } from '../../../src/runtime/run.ts'
import type { SinkSpec } from '../../../src/runtime/sink.ts'
import {
  canonical,
  clickstream,
  dyingAt,
  listAll,
  logEntries,
  type Row,
  readTable,
  sortRows,
  tempDir,
  visibleDataFiles,
} from './helpers.ts'

/** A local storage whose renames of staged files of batch `batchId` fail: a crash right after the commit point. */
class FailingRenames extends LocalLakeStorage {
  readonly #batchId: number
  constructor(root: string, batchId: number) {
    super(root)
    this.#batchId = batchId
  }
  override async rename(from: string, to: string): Promise<void> {
    if (from.includes(`/${this.#batchId}/`)) throw new Error('died after the commit point')
    return super.rename(from, to)
  }
}

/** A storage whose reads of a staged file find it just renamed into place by its writer (a race a follower meets). */
class RenamedWhileReading extends LocalLakeStorage {
  async #moveFirst(key: string): Promise<void> {
    if (key.startsWith('.sluice-staging/')) {
      const name = key.slice(key.lastIndexOf('/') + 1)
      const entries = await logEntries(this.root)
      const target = entries.flatMap((e) => e.files).find((f) => f.path.endsWith(`/${name}`))
      if (target) await super.rename(key, target.path).catch(() => {})
    }
  }
  override async get(key: string): Promise<Uint8Array | undefined> {
    await this.#moveFirst(key)
    return super.get(key)
  }
  override async getRange(key: string, start: number, end: number): Promise<Uint8Array> {
    await this.#moveFirst(key)
    return super.getRange(key, start, end)
  }
}

const BATCH = 400

/** Rows read back must be whole batches: a multiset equal to a prefix of the input made of whole batches. */
function assertWholeBatches(output: readonly Row[], input: readonly Row[]): void {
  assert.equal(output.length % BATCH === 0 || output.length === input.length, true, `${output.length} rows`)
  assert.deepEqual(sortRows(output), sortRows(input.slice(0, output.length)))
}

async function assertClean(table: string): Promise<void> {
  const all = await listAll(table)
  assert.deepEqual(
    all.filter((f) => f.startsWith('.sluice-staging/') || f.includes('/.tmp-')),
    [],
    'no staging leftovers',
  )
  const referenced = (await logEntries(table)).flatMap((e) => e.files.map((f) => f.path)).sort()
  assert.deepEqual(await visibleDataFiles(table), referenced, 'every data file is in the log, and only those')
}

describe('lake sink after a crash', () => {
  for (const format of ['parquet', 'jsonl'] as const) {
    test(`${format}: a crash after the data files are staged, before the log entry: no partial data, orphans deleted, no duplicates`, async () => {
      const dir = await tempDir()
      const table = join(dir, 't')
      const checkpoint = join(dir, 'ckpt')
      const input = clickstream(2000, 21)
      const spec = lake<Row>({ path: table, format, partitionBy: ['event_type'] })
      const build = (sink: SinkSpec<Row>) => pipeline('crash').from(memorySource<Row>('e', input)).to(sink)
      const options = { checkpoint, trigger: { kind: 'availableNow' as const }, maxBatchRecords: BATCH }

      await assert.rejects(run(build(dyingAt(spec, 2)), options), /died before committing batch 2/)
      const staged = (await listAll(table)).filter((f) => f.startsWith('.sluice-staging/crash/2/'))
      assert.ok(staged.length > 0, 'the dead batch left staged files')
      const seen = await readTable(table)
      assert.equal(seen.length, 2 * BATCH)
      assertWholeBatches(seen, input)
      assert.ok((await visibleDataFiles(table)).every((f) => /part-[01]-/.test(f)))

      await run(build(spec), options)
      await assertClean(table)
      const output = await readTable(table)
      assert.equal(output.length, input.length)
      assert.deepEqual(sortRows(output), sortRows(input))
      assert.deepEqual(
        (await logEntries(table)).map((e) => e.batchId),
        [0, 1, 2, 3, 4],
      )
    })
  }

  test('a crash after the log entry, before the files are renamed into place: readers see the batch, the restart finishes it', async () => {
    const dir = await tempDir()
    const table = join(dir, 't')
    const checkpoint = join(dir, 'ckpt')
    const input = clickstream(2000, 22)
    const build = (sink: SinkSpec<Row>) => pipeline('late').from(memorySource<Row>('e', input)).to(sink)
    const options = { checkpoint, trigger: { kind: 'availableNow' as const }, maxBatchRecords: BATCH }
    const failing = lake<Row>({
      path: table,
      partitionBy: ['platform'],
      storage: new FailingRenames(table, 1),
    })
    await assert.rejects(run(build(dyingAt(failing, 99)), options), /died after the commit point/)
    assert.deepEqual(
      (await logEntries(table)).map((e) => e.batchId),
      [0, 1],
    )
    // Batch 1 is committed: a reader following the log finds its files where they wait.
    const seen = await readTable(table)
    assert.equal(seen.length, 2 * BATCH)
    assertWholeBatches(seen, input)

    await run(build(lake<Row>({ path: table, partitionBy: ['platform'] })), options)
    await assertClean(table)
    assert.deepEqual(
      (await logEntries(table)).map((e) => e.batchId),
      [0, 1, 2, 3, 4],
    )
    assert.deepEqual(sortRows(await readTable(table)), sortRows(input))
  })

  for (const format of ['parquet', 'jsonl'] as const) {
    test(`${format}: a reader whose staged file is renamed into place while it reads it opens it again`, async () => {
      const dir = await tempDir()
      const table = join(dir, 't')
      const input = clickstream(800, 24)
      const options = {
        checkpoint: join(dir, 'ckpt'),
        trigger: { kind: 'availableNow' as const },
        maxBatchRecords: BATCH,
      }
      const failing = lake<Row>({
        path: table,
        format,
        partitionBy: ['platform'],
        storage: new FailingRenames(table, 1),
      })
      await assert.rejects(
        run(pipeline('race').from(memorySource<Row>('e', input)).to(dyingAt(failing, 99)), options),
        /died after the commit point/,
      )
      const out = memory<Row>()
      await run(
        pipeline('race-reader')
          .from(lakeTable<Row>({ path: table, storage: new RenamedWhileReading(table) }))
          .to(out),
        { checkpoint: join(dir, 'ckpt-r'), trigger: { kind: 'availableNow' } },
      )
      assert.deepEqual(sortRows(out.rows), sortRows(input))
      assert.deepEqual(
        (await listAll(table)).filter((f) => f.startsWith('.sluice-staging/')),
        [],
        'the reader saw every staged file moved',
      )
    })
  }

  test('SIGKILL at random moments: every restart resumes, readers only ever see whole batches, no duplicates', async () => {
    const dir = await tempDir()
    const table = join(dir, 't')
    const checkpoint = join(dir, 'ckpt')
    const count = 8000
    const child = fileURLToPath(new URL('./writer-child.ts', import.meta.url))
    const input = clickstream(count, 23)
    const runChild = (killAfterMs: number | undefined) =>
      new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
        const proc = spawn(process.execPath, [child, table, checkpoint, String(count)], {
          stdio: ['ignore', 'ignore', 'pipe'],
        })
        let stderr = ''
        proc.stderr.on('data', (d: Buffer) => {
          stderr += d.toString()
        })
        const timer =
          killAfterMs === undefined ? undefined : setTimeout(() => proc.kill('SIGKILL'), killAfterMs)
        proc.on('exit', (code, signal) => {
          clearTimeout(timer)
          resolve({ code, signal, stderr })
        })
      })
    let kills = 0
    for (const delay of [1400, 1900, 1600, 2300, 1700, 2100]) {
      const result = await runChild(delay)
      if (result.signal === 'SIGKILL') kills++
      else assert.equal(result.code, 0, result.stderr)
      const seen = (await logEntries(table)).length > 0 ? await readTable(table) : []
      assertWholeBatches(seen, input)
      if (result.code === 0) break
    }
    assert.ok(kills > 0, 'at least one run was killed')
    const last = await runChild(undefined)
    assert.equal(last.code, 0, last.stderr)
    await assertClean(table)
    const output = await readTable(table)
    assert.equal(output.length, count)
    assert.deepEqual(sortRows(output), sortRows(input))
    assert.equal(new Set(output.map(canonical)).size, new Set(input.map(canonical)).size)
  })
})
