import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { compactIcebergTable } from '../../../../src/connectors/lake/iceberg/compact.ts'
import { lake } from '../../../../src/connectors/lake/index.ts'
import { memorySource } from '../../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../../src/dsl/stream.ts'
import { run } from '../../../../src/runtime/run.ts'
import { runCli } from '../../../helpers/cli.ts'
import { clickstream, listAll, type Row, tempDir } from '../helpers.ts'
import { digestWithPyIceberg, type IcebergDigestScan } from './pyiceberg.ts'
import { assertSameDigests, expectedDigests } from './reference.ts'

const availableNow = { kind: 'availableNow' } as const

/** PyIceberg (an independent reader) reads exactly `input` from the table, each row once, by content. */
async function assertReads(db: string, table: string, input: readonly Row[]): Promise<IcebergDigestScan> {
  const scan = await digestWithPyIceberg(db, table)
  const names = scan.schema.map(([, name]) => name)
  assertSameDigests(scan.digests, expectedDigests(input, names), 'PyIceberg read')
  return scan
}

function writeRows(dir: string, input: readonly Row[], batch: number) {
  return run(
    pipeline('ice-compact')
      .from(memorySource<Row>('e', input))
      .to(
        lake<Row>({
          path: join(dir, 't'),
          format: 'iceberg',
          catalog: { sqlite: join(dir, 'catalog.db'), table: 'ns.events' },
          partitionBy: ['event_type'],
        }),
      ),
    { checkpoint: join(dir, 'ckpt'), trigger: availableNow, maxBatchRecords: batch },
  )
}

describe('sluice lake compact (Iceberg)', () => {
  test('rewrites small files into fewer as a replace snapshot: PyIceberg reads every row once, and the writer appends after it', async () => {
    const dir = await tempDir()
    const db = join(dir, 'catalog.db')
    const input = clickstream(4000, 41)
    await writeRows(dir, input.slice(0, 3000), 300)
    const before = await assertReads(db, 'ns.events', input.slice(0, 3000))
    const filesBefore = Number(before.summary?.['total-data-files'])
    assert.ok(filesBefore >= 50, `${filesBefore} files to compact`)

    const cli = await runCli(
      ['lake', 'compact', 'ns.events', '--catalog', db, '--target-file-size', '4000000'],
      {
        timeoutMs: 120_000,
      },
    )
    assert.equal(cli.code, 0, cli.stderr)
    const compacted = await assertReads(db, 'ns.events', input.slice(0, 3000))
    assert.equal(compacted.operation, 'replace')
    const filesAfter = Number(compacted.summary?.['total-data-files'])
    assert.match(
      cli.stdout,
      new RegExp(
        `^ns\\.events: ${filesBefore} files \\(3000 rows\\) rewritten as ${filesAfter} in snapshot \\d+\\.\\n$`,
      ),
    )
    assert.ok(filesAfter < filesBefore / 5, `${filesBefore} files became ${filesAfter}`)
    assert.equal(compacted.snapshots, before.snapshots + 1)
    assert.equal(compacted.summary?.['total-records'], '3000')
    // The rewritten files stay for older snapshots: the new ones are beside them.
    assert.equal((await listAll(join(dir, 't', 'data'))).length, filesBefore + filesAfter)

    // The writer resumes on top of the replace snapshot: its batches after it are appended once.
    await writeRows(dir, input, 300)
    const appended = await assertReads(db, 'ns.events', input)
    assert.equal(appended.operation, 'append')
    assert.equal(appended.summary?.['sluice.end'], JSON.stringify({ memory: 4000 }))

    const nothing = await runCli(
      ['lake', 'compact', 'ns.events', '--catalog', db, '--target-file-size', '100'],
      {
        timeoutMs: 60_000,
      },
    )
    assert.equal(nothing.code, 0, nothing.stderr)
    assert.match(nothing.stdout, /nothing to compact/)
    const missing = await runCli(['lake', 'compact', 'ns.events', '--catalog', join(dir, 'typo.db')], {
      timeoutMs: 60_000,
    })
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /^sluice: lake: there is no SQL catalog at .*typo\.db/)
  })

  test('compactions racing a writer process: every one commits or gives up cleanly, and PyIceberg reads every row once', {
    timeout: 300_000,
  }, async (t) => {
    const dir = await tempDir()
    const db = join(dir, 'catalog.db')
    const count = 8000
    const input = clickstream(count, 77)
    const child = fileURLToPath(new URL('./crash-writer.ts', import.meta.url))
    const writer = spawn(
      process.execPath,
      [child, join(dir, 't'), db, join(dir, 'ckpt'), String(count), '200'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let stderr = ''
    writer.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    const exited = new Promise<number | null>((resolve) => writer.on('exit', resolve))
    let running = true
    void exited.then(() => {
      running = false
    })
    // Compaction needs a table: wait for the writer's first commit.
    await new Promise<void>((resolve) => writer.stdout.once('data', () => resolve()))
    let committed = 0
    let retried = 0
    while (running) {
      const result = await compactIcebergTable({
        catalog: { sqlite: db, table: 'crash.events' },
        targetFileBytes: 1_000_000,
      })
      if (result.snapshotId !== undefined && running) committed++
      if (result.attempts > 1) retried++
    }
    assert.equal(await exited, 0, stderr)
    t.diagnostic(
      `${committed} compactions committed while the writer ran, ${retried} after a writer's commit`,
    )
    assert.ok(committed > 0, 'a compaction committed while the writer was running')
    const final = await compactIcebergTable({
      catalog: { sqlite: db, table: 'crash.events' },
      targetFileBytes: 1_000_000,
    })
    assert.equal(final.attempts <= 1, true)
    await assertReads(db, 'crash.events', input)
  })
})
