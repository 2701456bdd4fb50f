import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { basename, dirname, join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { lake } from '../../../../src/connectors/lake/index.ts'
import { memorySource } from '../../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../../src/dsl/stream.ts'
import { run } from '../../../../src/runtime/run.ts'
import type { DeadLetter, SinkSpec } from '../../../../src/runtime/sink.ts'
import {
  canonical,
  clickstream,
  dyingAfterCommit,
  dyingAt,
  listAll,
  type Row,
  sortRows,
  tempDir,
} from '../helpers.ts'
import { type IcebergScan, readWithPyIceberg } from './pyiceberg.ts'
import { expectedRow } from './reference.ts'

const availableNow = { kind: 'availableNow' } as const

/** Asserts PyIceberg reads exactly `input` (as a multiset, by content) from the table; returns its scan. */
async function assertReads(db: string, table: string, input: readonly Row[]): Promise<IcebergScan> {
  const scan = await readWithPyIceberg(db, table)
  const names = scan.schema.map(([, name]) => name)
  assert.equal(scan.rows.length, input.length, 'rows read')
  assert.deepEqual(
    sortRows(scan.rows).map(canonical),
    sortRows(input.map((r) => expectedRow(r, names))).map(canonical),
  )
  return scan
}

/** Every data file under data/ is one the current snapshot counts (no orphan is left beside them). */
async function assertNoOrphans(folder: string, scan: IcebergScan): Promise<void> {
  assert.equal((await listAll(join(folder, 'data'))).length, Number(scan.summary?.['total-data-files']))
}

async function tableExists(db: string): Promise<boolean> {
  if ((await listAll(dirname(db))).every((f) => f !== basename(db))) return false
  const catalog = new DatabaseSync(db)
  try {
    return (catalog.prepare('SELECT count(*) AS n FROM iceberg_tables').get() as { n: number }).n > 0
  } finally {
    catalog.close()
  }
}

describe('lake({ format: "iceberg" })', () => {
  test('PyIceberg reads every row once, by content: identity and day partitions, columns added as fields appear', async () => {
    const dir = await tempDir()
    const db = join(dir, 'catalog.db')
    const start = Date.parse('2026-11-24T20:00:00Z')
    const input = clickstream(3000, 31).map((r, i) => ({
      ...r,
      at: new Date(start + i * 97_000),
      // A field only the later batches have: the table gains a column with a new id.
      ...(i >= 1500 ? { score: i / 7 } : {}),
    }))
    await run(
      pipeline('ice')
        .from(memorySource<Row>('e', input))
        .to(
          lake<Row>({
            path: join(dir, 'events'),
            format: 'iceberg',
            catalog: { sqlite: db, table: 'web.events' },
            partitionBy: ['event_type', { field: 'at', transform: 'day' }],
          }),
        ),
      { checkpoint: join(dir, 'ckpt'), trigger: availableNow, maxBatchRecords: 1000 },
    )
    const scan = await assertReads(db, 'web.events', input)
    assert.equal(scan.snapshots, 3)
    assert.equal(scan.operation, 'append')
    assert.equal(scan.summary?.['sluice.writer'], 'ice')
    assert.equal(scan.summary?.['sluice.batch-id'], '2')
    assert.deepEqual(JSON.parse(scan.summary?.['sluice.end'] ?? ''), { memory: 3000 })
    const ids = scan.schema.map(([id]) => id)
    assert.equal(new Set(ids).size, ids.length, 'field ids are unique')
    assert.deepEqual(
      scan.schema.find(([, name]) => name === 'at'),
      [ids[scan.schema.findIndex(([, n]) => n === 'at')], 'at', 'timestamptz'],
    )
    assert.equal(scan.schema.at(-1)?.[1], 'score', 'the late field is the newest column')
    const files = await listAll(join(dir, 'events', 'data'))
    assert.ok(
      files.every((f) =>
        /^event_type=[a-z_]+\/at_day=2026-11-2[4-8]\/part-\d+-[0-9a-f]{12}-0\.parquet$/.test(f),
      ),
      files.join('\n'),
    )
    // The catalog row is the JDBC catalog's.
    const catalog = new DatabaseSync(db)
    const row = catalog.prepare('SELECT * FROM iceberg_tables').get() as Record<string, string>
    catalog.close()
    assert.equal(row.catalog_name, 'sluice')
    assert.equal(row.table_namespace, 'web')
    assert.equal(row.iceberg_type, 'TABLE')
    assert.match(row.metadata_location ?? '', /\/metadata\/00002-[0-9a-f-]+\.metadata\.json$/)
    assert.match(row.previous_metadata_location ?? '', /\/metadata\/00001-/)
  })

  test('rows the table cannot take are dead letters with the reason; the others are written', async () => {
    const dir = await tempDir()
    const db = join(dir, 'catalog.db')
    const good = clickstream(300, 32)
    const bad: Row[] = [
      { ...good[0], event_id: 'wrong-type', schema_version: 'one' },
      { ...good[0], event_id: 'object-partition', event_type: { nested: true } },
      { ...good[0], event_id: 'case', EVENT_ID: 'x' },
      { ...good[0], event_id: 'not-a-date', at: '2026-01-01' },
    ]
    const input = [...good.slice(0, 100), ...bad, ...good.slice(100)]
    const letters: DeadLetter[] = []
    await run(
      pipeline('ice-bad')
        .from(memorySource<Row>('e', input))
        .to(
          lake<Row>({
            path: join(dir, 't'),
            format: 'iceberg',
            catalog: { sqlite: db, table: 'ns.t' },
            partitionBy: ['event_type', { field: 'at', transform: 'hour' }],
          }),
        ),
      {
        checkpoint: join(dir, 'ckpt'),
        trigger: availableNow,
        maxBatchRecords: 150,
        onDeadLetters: (d) => letters.push(...d),
      },
    )
    const reasons = letters.map((l) => `${JSON.parse(String(l.raw)).event_id}: ${l.reason}`).sort()
    assert.deepEqual(reasons, [
      'case: field "EVENT_ID" and column "event_id" differ only in case, which the Parquet writer (DuckDB) does not tell apart',
      'not-a-date: field "at": partition transform hour needs a Date',
      'object-partition: field "event_type": an object or array cannot be a partition value',
      'wrong-type: field "schema_version": the table\'s column is double, the value is string',
    ])
    await assertReads(db, 'ns.t', good)
  })

  test('a crash after the data files are written, before the catalog swap: nothing visible, the restart commits each row once and deletes the orphans', async () => {
    const dir = await tempDir()
    const db = join(dir, 'catalog.db')
    const folder = join(dir, 't')
    const input = clickstream(2000, 33)
    const spec = lake<Row>({
      path: folder,
      format: 'iceberg',
      catalog: { sqlite: db, table: 'ns.t' },
      partitionBy: ['event_type'],
    })
    const build = (sink: SinkSpec<Row>) => pipeline('ice-crash').from(memorySource<Row>('e', input)).to(sink)
    const options = { checkpoint: join(dir, 'ckpt'), trigger: availableNow, maxBatchRecords: 400 }
    await assert.rejects(run(build(dyingAt(spec, 2)), options), /died before committing batch 2/)
    const orphans = (await listAll(join(folder, 'data'))).filter((f) => /\/part-2-/.test(f))
    assert.ok(orphans.length > 0, 'the dead batch left data files')
    await assertReads(db, 'ns.t', input.slice(0, 800))

    await run(build(spec), options)
    const scan = await assertReads(db, 'ns.t', input)
    await assertNoOrphans(folder, scan)
    assert.equal(scan.snapshots, 5)
  })

  test('a crash after the catalog swap, before the checkpoint records it: the restart finds the batch in the snapshot summary and writes it no second time', async () => {
    const dir = await tempDir()
    const db = join(dir, 'catalog.db')
    const input = clickstream(2000, 34)
    const spec = lake<Row>({
      path: join(dir, 't'),
      format: 'iceberg',
      catalog: { sqlite: db, table: 'ns.t' },
    })
    const build = (sink: SinkSpec<Row>) => pipeline('ice-late').from(memorySource<Row>('e', input)).to(sink)
    const options = { checkpoint: join(dir, 'ckpt'), trigger: availableNow, maxBatchRecords: 400 }
    await assert.rejects(run(build(dyingAfterCommit(spec, 2)), options), /died after committing batch 2/)
    await assertReads(db, 'ns.t', input.slice(0, 1200))
    await run(build(spec), options)
    const scan = await assertReads(db, 'ns.t', input)
    assert.equal(scan.snapshots, 5, 'one snapshot per batch')
  })

  test('SIGKILL at random moments: every restart resumes, PyIceberg sees whole batches, each row once', {
    timeout: 300_000,
  }, async () => {
    const dir = await tempDir()
    const db = join(dir, 'catalog.db')
    const folder = join(dir, 't')
    const count = 4000
    const batch = 500
    const child = fileURLToPath(new URL('./crash-writer.ts', import.meta.url))
    const input = clickstream(count, 77)
    const runChild = (killAfterMs: number | undefined) =>
      new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
        const proc = spawn(
          process.execPath,
          [child, folder, db, join(dir, 'ckpt'), String(count), String(batch)],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        )
        let stderr = ''
        let timer: NodeJS.Timeout | undefined
        proc.stderr.on('data', (d: Buffer) => {
          stderr += d.toString()
        })
        // The delay counts from the first committed batch, so that a slow start is not all a run does.
        proc.stdout.on('data', () => {
          if (killAfterMs !== undefined && timer === undefined)
            timer = setTimeout(() => proc.kill('SIGKILL'), killAfterMs)
        })
        proc.on('exit', (code, signal) => {
          clearTimeout(timer)
          resolve({ code, signal, stderr })
        })
      })
    let kills = 0
    for (const delay of [150, 400]) {
      const result = await runChild(delay)
      if (result.signal === 'SIGKILL') kills++
      else assert.equal(result.code, 0, result.stderr)
      if (await tableExists(db)) {
        // Batches commit in order, so whole batches are exactly a prefix of the input of a multiple of the batch size.
        const scan = await readWithPyIceberg(db, 'crash.events')
        assert.equal(scan.rows.length % batch, 0, `${scan.rows.length} rows is not whole batches`)
        const names = scan.schema.map(([, name]) => name)
        assert.deepEqual(
          sortRows(scan.rows).map(canonical),
          sortRows(input.slice(0, scan.rows.length).map((r) => expectedRow(r, names))).map(canonical),
        )
      }
      if (result.code === 0) break
    }
    assert.ok(kills > 0, 'at least one run was killed')
    const last = await runChild(undefined)
    assert.equal(last.code, 0, last.stderr)
    await assertNoOrphans(folder, await assertReads(db, 'crash.events', input))
  })
})
