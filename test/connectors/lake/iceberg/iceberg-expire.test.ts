import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { compactIcebergTable } from '../../../../src/connectors/lake/iceberg/compact.ts'
import { expireIcebergSnapshots } from '../../../../src/connectors/lake/iceberg/expire.ts'
import { lake } from '../../../../src/connectors/lake/index.ts'
import { memorySource } from '../../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../../src/dsl/stream.ts'
import { run } from '../../../../src/runtime/run.ts'
import type { SinkSpec } from '../../../../src/runtime/sink.ts'
import { runCli } from '../../../helpers/cli.ts'
import { clickstream, dyingAfterCommit, listAll, type Row, tempDir } from '../helpers.ts'
import { digestWithPyIceberg, type IcebergDigestScan, referencedFiles } from './pyiceberg.ts'
import { assertSameDigests, expectedDigests } from './reference.ts'

const availableNow = { kind: 'availableNow' } as const

/** PyIceberg (an independent reader) reads exactly `input` from the table, each row once, by content. */
async function assertReads(db: string, table: string, input: readonly Row[]): Promise<IcebergDigestScan> {
  const scan = await digestWithPyIceberg(db, table)
  const names = scan.schema.map(([, name]) => name)
  assertSameDigests(scan.digests, expectedDigests(input, names), 'PyIceberg read')
  return scan
}

/**
 * The table folder holds exactly what PyIceberg finds referenced by the remaining snapshots (manifest lists,
 * manifests, live data files), and two metadata files: the current one and the one before it (which the
 * catalog names as previous).
 */
async function assertOnlyReferenced(db: string, table: string, folder: string): Promise<number> {
  const referenced = await referencedFiles(db, table)
  const onDisk = (await listAll(folder)).map((f) => pathToFileURL(join(folder, f)).href)
  const isMetadataFile = (f: string) => f.endsWith('.metadata.json')
  assert.deepEqual(
    onDisk.filter((f) => !isMetadataFile(f)).sort(),
    referenced.files.filter((f) => !isMetadataFile(f)).sort(),
  )
  assert.equal(onDisk.filter(isMetadataFile).length, 2, 'metadata files: the current one and the previous')
  return referenced.snapshots
}

function icebergLake(dir: string, table: string): SinkSpec<Row> {
  return lake<Row>({
    path: join(dir, 't'),
    format: 'iceberg',
    catalog: { sqlite: join(dir, 'catalog.db'), table },
    partitionBy: ['event_type'],
  })
}

function writeRows(dir: string, input: readonly Row[], batch: number, sink = icebergLake(dir, 'ns.events')) {
  return run(pipeline('ice-expire').from(memorySource<Row>('e', input)).to(sink), {
    checkpoint: join(dir, 'ckpt'),
    trigger: availableNow,
    maxBatchRecords: batch,
  })
}

describe('sluice lake expire (Iceberg)', () => {
  test('expiring after a compaction: PyIceberg reads every row once, the files no snapshot references are gone, and the writer appends after it', async () => {
    const dir = await tempDir()
    const db = join(dir, 'catalog.db')
    const folder = join(dir, 't')
    const input = clickstream(4000, 51)
    await writeRows(dir, input.slice(0, 3000), 300)
    const compacted = await compactIcebergTable({
      catalog: { sqlite: db, table: 'ns.events' },
      targetFileBytes: 4_000_000,
    })
    assert.ok(compacted.rewrittenFiles > 50, `${compacted.rewrittenFiles} files rewritten`)
    const filesBefore = (await listAll(folder)).length

    const cli = await runCli(['lake', 'expire', 'ns.events', '--catalog', db, '--older-than', '0'], {
      timeoutMs: 120_000,
    })
    assert.equal(cli.code, 0, cli.stderr)
    assert.match(
      cli.stdout,
      /^ns\.events: 10 snapshots expired, 1 kept; deleted (\d+) data files, 10 manifests, 10 manifest lists, 10 metadata files\.\n$/,
    )
    const deletedData = Number(/deleted (\d+) data files/.exec(cli.stdout)?.[1])
    assert.equal(deletedData, compacted.rewrittenFiles, 'the rewritten files, which only old snapshots read')
    const scan = await assertReads(db, 'ns.events', input.slice(0, 3000))
    assert.equal(scan.snapshots, 1)
    assert.equal(scan.operation, 'replace')
    assert.equal(await assertOnlyReferenced(db, 'ns.events', folder), 1)
    assert.ok((await listAll(folder)).length < filesBefore / 5)

    // The writer resumes on the expired table: its position is in the table's properties.
    await writeRows(dir, input, 300)
    const appended = await assertReads(db, 'ns.events', input)
    assert.equal(appended.snapshots, 5)

    const nothing = await runCli(['lake', 'expire', 'ns.events', '--catalog', db, '--older-than', '1h'], {
      timeoutMs: 60_000,
    })
    assert.equal(nothing.code, 0, nothing.stderr)
    assert.equal(nothing.stdout, 'ns.events: nothing to expire (5 snapshots).\n')

    const retained = await expireIcebergSnapshots({
      catalog: { sqlite: db, table: 'ns.events' },
      olderThanMs: 0,
      retainLast: 3,
    })
    assert.equal(retained.expiredSnapshots, 2)
    assert.equal(retained.deleted.dataFiles, 0, 'appends remove no file: every data file is still live')
    await assertReads(db, 'ns.events', input)
    assert.equal(await assertOnlyReferenced(db, 'ns.events', folder), 3)

    const bad = await runCli(['lake', 'expire', 'ns.events', '--catalog', db, '--older-than', 'soon'], {
      timeoutMs: 60_000,
    })
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /expected a duration such as 500ms, 60s, 5m or 1h, got "soon"/)
  })

  test('a writer that died after its commit, whose snapshot then expired: the restart finds its position and writes the batch no second time', async () => {
    const dir = await tempDir()
    const db = join(dir, 'catalog.db')
    const input = clickstream(2000, 52)
    const spec = icebergLake(dir, 'ns.t')
    await assert.rejects(
      writeRows(dir, input, 400, dyingAfterCommit(spec, 2)),
      /died after committing batch 2/,
    )
    await assertReads(db, 'ns.t', input.slice(0, 1200))
    // A compaction on top, then an expiry: the snapshot of batch 2, with the writer's summary, is gone.
    const compacted = await compactIcebergTable({ catalog: { sqlite: db, table: 'ns.t' } })
    assert.ok(compacted.snapshotId !== undefined)
    const expired = await expireIcebergSnapshots({ catalog: { sqlite: db, table: 'ns.t' }, olderThanMs: 0 })
    assert.equal(expired.expiredSnapshots, 3)

    await writeRows(dir, input, 400, spec)
    const scan = await assertReads(db, 'ns.t', input)
    assert.equal(scan.summary?.['sluice.end'], JSON.stringify({ memory: 2000 }))
  })

  test('expiries racing a writer process, between compactions: every one commits or retries, PyIceberg reads every row once, and only referenced files remain', {
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
    await new Promise<void>((resolve) => writer.stdout.once('data', () => resolve()))
    const catalog = { sqlite: db, table: 'crash.events' }
    let expiries = 0
    let retried = 0
    while (running) {
      await compactIcebergTable({ catalog, targetFileBytes: 1_000_000 })
      const result = await expireIcebergSnapshots({ catalog, olderThanMs: 0 })
      if (result.expiredSnapshots > 0 && running) expiries++
      if (result.attempts > 1) retried++
    }
    assert.equal(await exited, 0, stderr)
    t.diagnostic(`${expiries} expiries committed while the writer ran, ${retried} after a writer's commit`)
    assert.ok(expiries > 0, 'an expiry committed while the writer was running')
    await compactIcebergTable({ catalog, targetFileBytes: 1_000_000 })
    await expireIcebergSnapshots({ catalog, olderThanMs: 0 })
    await assertReads(db, 'crash.events', input)
    assert.equal(await assertOnlyReferenced(db, 'crash.events', join(dir, 't')), 1)
  })
})
