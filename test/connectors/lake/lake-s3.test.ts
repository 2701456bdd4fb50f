import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { files } from '../../../src/connectors/files/index.ts'
import { lake, lakeTable } from '../../../src/connectors/lake/index.ts'
import type { LogEntry } from '../../../src/connectors/lake/log.ts'
import { S3LakeStorage } from '../../../src/connectors/lake/storage-s3.ts'
import { memory } from '../../../src/connectors/testing/memory.ts'
import { memorySource } from '../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { run } from '../../../src/runtime/run.ts'
import type { SinkSpec } from '../../../src/runtime/sink.ts'
import { startS3, type TestS3 } from '../../helpers/s3.ts'
import { clickstream, dyingAt, type Row, sortRows, tempDir } from './helpers.ts'
import { commit, input, inputs, instance } from './instances.ts'

let s3: TestS3
before(async () => {
  s3 = await startS3()
})
after(async () => {
  await s3?.stop()
})

function storage(table: string): S3LakeStorage {
  return new S3LakeStorage(`s3://${s3.bucket}/${table}`, s3.options)
}

async function readS3Table(table: string): Promise<Row[]> {
  const out = memory<Row>()
  await run(
    pipeline('s3-reader')
      .from(lakeTable<Row>({ path: `s3://${s3.bucket}/${table}`, s3: s3.options }))
      .to(out),
    {
      checkpoint: await tempDir(),
      trigger: { kind: 'availableNow' },
    },
  )
  return [...out.rows]
}

async function entries(table: string): Promise<LogEntry[]> {
  const st = storage(table)
  const keys = (await st.list('_sluice_log/')).filter((k) => /\d{20}\.json$/.test(k)).sort()
  const out: LogEntry[] = []
  for (const key of keys) out.push(JSON.parse(Buffer.from((await st.get(key)) ?? []).toString()) as LogEntry)
  st.close()
  return out
}

async function dataKeys(table: string): Promise<string[]> {
  const st = storage(table)
  const keys = (await st.list('')).filter(
    (k) => !k.startsWith('_sluice_log/') && !k.startsWith('.sluice-staging/'),
  )
  st.close()
  return keys.sort()
}

describe('lake tables in S3 (versitygw on 127.0.0.1)', () => {
  test('Parquet rows written to s3:// come back equal through lakeTable(), in Hive partition keys; DuckDB reads the objects', async () => {
    const dir = await tempDir()
    const input = clickstream(3000, 41)
    await run(
      pipeline('s3-writer')
        .from(memorySource<Row>('e', input))
        .to(lake<Row>({ path: `s3://${s3.bucket}/events`, s3: s3.options, partitionBy: ['event_type'] })),
      { checkpoint: join(dir, 'ckpt'), trigger: { kind: 'availableNow' }, maxBatchRecords: 1000 },
    )
    assert.deepEqual(sortRows(await readS3Table('events')), sortRows(input))
    const keys = await dataKeys('events')
    assert.ok(keys.length > 0)
    for (const key of keys) assert.match(key, /^event_type=[a-z_]+\/part-\d+-[0-9a-f]{12}-\d+\.parquet$/)
    assert.deepEqual(keys, (await entries('events')).flatMap((e) => e.files.map((f) => f.path)).sort())
    // The POSIX backend keeps each object as a file: DuckDB reads the table's Parquet files as written.
    const { DuckDBInstance } = await import('@duckdb/node-api')
    const db = await DuckDBInstance.create(':memory:')
    const connection = await db.connect()
    const glob = join(s3.bucketDir, 'events', '**', '*.parquet')
    const reader = await connection.runAndReadAll(
      `SELECT event_type, count(*) AS n FROM read_parquet('${glob}', hive_partitioning = true) GROUP BY 1 ORDER BY 1`,
    )
    const expected = new Map<string, number>()
    for (const row of input)
      expected.set(String(row.event_type), (expected.get(String(row.event_type)) ?? 0) + 1)
    assert.deepEqual(
      reader.getRowObjects().map((r) => [r.event_type, Number(r.n)]),
      [...expected].sort((a, b) => (a[0] < b[0] ? -1 : 1)),
    )
    connection.closeSync()
    db.closeSync()
  })

  test('settings from the standard AWS environment variables, JSON lines', async () => {
    const saved = { ...process.env }
    Object.assign(process.env, s3.env)
    try {
      const input = clickstream(500, 42)
      await run(
        pipeline('s3-env')
          .from(memorySource<Row>('e', input))
          .to(lake<Row>({ path: `s3://${s3.bucket}/env-table`, format: 'jsonl' })),
        { checkpoint: await tempDir(), trigger: { kind: 'availableNow' }, maxBatchRecords: 200 },
      )
      const out = memory<Row>()
      await run(
        pipeline('s3-env-read')
          .from(lakeTable<Row>({ path: `s3://${s3.bucket}/env-table` }))
          .to(out),
        {
          checkpoint: await tempDir(),
          trigger: { kind: 'availableNow' },
        },
      )
      assert.deepEqual(out.rows, input)
      assert.deepEqual(
        (await entries('env-table')).map((e) => e.batchId),
        [0, 1, 2],
      )
    } finally {
      for (const key of Object.keys(s3.env)) {
        if (saved[key] === undefined) delete process.env[key]
        else process.env[key] = saved[key]
      }
    }
  })

  test('a crash before the commit point leaves objects under final keys that no reader sees; the restart deletes them and writes each row once', async () => {
    const dir = await tempDir()
    const input = clickstream(2000, 43)
    const spec = lake<Row>({ path: `s3://${s3.bucket}/crash`, s3: s3.options, partitionBy: ['platform'] })
    const build = (sink: SinkSpec<Row>) => pipeline('s3-crash').from(memorySource<Row>('e', input)).to(sink)
    const options = {
      checkpoint: join(dir, 'ckpt'),
      trigger: { kind: 'availableNow' as const },
      maxBatchRecords: 400,
    }
    await assert.rejects(run(build(dyingAt(spec, 2)), options), /died before committing batch 2/)
    const orphans = (await dataKeys('crash')).filter((k) => /\/part-2-/.test(k))
    assert.ok(orphans.length > 0, 'batch 2 left objects under their final keys')
    const seen = await readS3Table('crash')
    assert.deepEqual(sortRows(seen), sortRows(input.slice(0, 800)))

    await run(build(spec), options)
    const log = await entries('crash')
    assert.deepEqual(
      log.map((e) => e.batchId),
      [0, 1, 2, 3, 4],
    )
    assert.deepEqual(await dataKeys('crash'), log.flatMap((e) => e.files.map((f) => f.path)).sort())
    assert.deepEqual(sortRows(await readS3Table('crash')), sortRows(input))
  })

  test('another writer’s uncommitted objects are not taken for orphans', async () => {
    const dir = await tempDir()
    const table = 'two-writers'
    const a = clickstream(300, 44)
    const b = clickstream(300, 45)
    const write = (writerId: string, rows: Row[], sink?: (s: SinkSpec<Row>) => SinkSpec<Row>) => {
      const spec = lake<Row>({ path: `s3://${s3.bucket}/${table}`, s3: s3.options, writerId })
      return run(
        pipeline(writerId)
          .from(memorySource<Row>(writerId, rows))
          .to(sink ? sink(spec) : spec),
        {
          checkpoint: join(dir, writerId),
          trigger: { kind: 'availableNow' },
          maxBatchRecords: 100,
        },
      )
    }
    await assert.rejects(
      write('a', a, (s) => dyingAt(s, 1)),
      /died/,
    )
    const orphansOfA = (await dataKeys(table)).filter((k) => k.startsWith('part-1-'))
    assert.equal(orphansOfA.length, 1)
    await write('b', b)
    // Writer b's recovery left a's object alone; a's own restart removes and rewrites it.
    assert.ok((await dataKeys(table)).includes(orphansOfA[0] as string))
    await write('a', a)
    assert.deepEqual(sortRows(await readS3Table(table)), sortRows([...a, ...b]))
    assert.deepEqual(
      await dataKeys(table),
      (await entries(table)).flatMap((e) => e.files.map((f) => f.path)).sort(),
    )
  })

  test('instances sharing the source partitions write one S3 table: a zombie’s commit of a moved partition is fenced and its objects deleted', async () => {
    const table = 'shared'
    const options = { path: `s3://${s3.bucket}/${table}`, s3: s3.options }
    const a = await instance(options, 'a')
    const b = await instance(options, 'b')
    assert.deepEqual(await a.positions.read(['t:0']), {})
    assert.deepEqual(await b.positions.read(['t:1']), {})
    await commit(a.sink, 0, [['t:0', 0, 3]], {})
    await commit(b.sink, 0, [['t:1', 0, 2]], {})
    // t:0 moves to b; a, not knowing, commits it too.
    assert.deepEqual(await b.positions.read(['t:0']), { 't:0': 3 })
    await commit(b.sink, 1, [['t:0', 3, 5]], { 't:0': 3 })
    await assert.rejects(commit(a.sink, 1, [['t:0', 3, 5]], { 't:0': 3 }), { code: 'SLUICE_SINK_FENCED' })
    await a.sink.close()
    await b.sink.close()
    assert.deepEqual(
      await dataKeys(table),
      (await entries(table)).flatMap((e) => e.files.map((f) => f.path)).sort(),
      'the fenced batch left no object',
    )
    const rows = await readS3Table(table)
    assert.deepEqual(inputs(rows), inputs([...input('t:0', 0, 5).rows, ...input('t:1', 0, 2).rows]))
  })

  test('the first scaled-out start on a table written as one process deletes the objects that process left when it crashed', async () => {
    const dir = await tempDir()
    const table = 'adopted'
    const options = { path: `s3://${s3.bucket}/${table}`, s3: s3.options }
    // The pipeline ("p") as one process: batch 0 commits, batch 1 dies before its commit point.
    await assert.rejects(
      run(
        pipeline('p')
          .from(memorySource<Row>('e', clickstream(300, 47)))
          .to(dyingAt(lake<Row>(options), 1)),
        {
          checkpoint: join(dir, 'single'),
          trigger: { kind: 'availableNow' },
          maxBatchRecords: 100,
        },
      ),
      /died before committing batch 1/,
    )
    assert.ok(
      (await dataKeys(table)).some((k) => k.startsWith('part-1-')),
      'batch 1 left objects',
    )
    const a = await instance(options, 'a', 'p')
    await a.sink.close()
    assert.deepEqual(
      await dataKeys(table),
      (await entries(table)).flatMap((e) => e.files.map((f) => f.path)).sort(),
    )
  })

  test('files() reads an S3 lake table through its commit log; rolled files too', async () => {
    const dir = await tempDir()
    const input = clickstream(1500, 46)
    await run(
      pipeline('s3-roll')
        .from(memorySource<Row>('e', input))
        .to(
          lake<Row>({
            path: `s3://${s3.bucket}/rolled`,
            s3: s3.options,
            partitionBy: ['platform'],
            rollInterval: '1h',
          }),
        ),
      { checkpoint: join(dir, 'ckpt'), trigger: { kind: 'availableNow' }, maxBatchRecords: 100 },
    )
    const log = await entries('rolled')
    assert.equal(log.length, 1, '15 batches, one roll')
    assert.equal(new Set(log[0]?.files.map((f) => f.partition.platform)).size, log[0]?.files.length)
    const out = memory<Row>()
    await run(
      pipeline('s3-files')
        .from(files({ path: `s3://${s3.bucket}/rolled`, format: 'parquet', s3: s3.options }))
        .map((row) => row as Row)
        .to(out),
      { checkpoint: join(dir, 'ckpt-r'), trigger: { kind: 'availableNow' } },
    )
    assert.deepEqual(sortRows(out.rows), sortRows(input))
    const st = storage('rolled')
    assert.deepEqual(await st.list('.sluice-staging/'), [], 'spool and markers are gone')
    st.close()
  })

  test('bad S3 addresses are refused at definition time', () => {
    assert.throws(() => lake({ path: 's3://' }), /not an S3 address/)
    assert.throws(() => lake({ path: 's3://bucket/a/../b' }), /"\." or "\.\."/)
    assert.throws(() => lake({ path: 'local/dir', s3: { region: 'x' } }), /s3 options are for s3:/)
  })
})
