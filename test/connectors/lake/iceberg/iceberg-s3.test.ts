import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { compactIcebergTable } from '../../../../src/connectors/lake/iceberg/compact.ts'
import { expireIcebergSnapshots } from '../../../../src/connectors/lake/iceberg/expire.ts'
import { lake } from '../../../../src/connectors/lake/index.ts'
import { S3LakeStorage } from '../../../../src/connectors/lake/storage-s3.ts'
import { memorySource } from '../../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../../src/dsl/stream.ts'
import { run } from '../../../../src/runtime/run.ts'
import type { SinkSpec } from '../../../../src/runtime/sink.ts'
import { startS3, type TestS3 } from '../../../helpers/s3.ts'
import { clickstream, dyingAt, type Row, tempDir } from '../helpers.ts'
import { digestWithPyIceberg, type IcebergProperties, referencedFiles } from './pyiceberg.ts'
import { assertSameDigests, expectedDigests } from './reference.ts'

let s3: TestS3
before(async () => {
  s3 = await startS3()
})
after(async () => {
  await s3?.stop()
})

/** PyIceberg's file IO reaching the test server (its S3 file system, path-style by default). */
function s3Properties(): IcebergProperties {
  const credentials = s3.options.credentials as { accessKeyId: string; secretAccessKey: string }
  return {
    's3.endpoint': s3.endpoint,
    's3.region': 'us-east-1',
    's3.access-key-id': credentials.accessKeyId,
    's3.secret-access-key': credentials.secretAccessKey,
  }
}

/** PyIceberg reads exactly `input` from the table in S3, each row once, by content. */
async function assertReads(db: string, table: string, input: readonly Row[]) {
  const scan = await digestWithPyIceberg(db, table, 'sluice', s3Properties())
  const names = scan.schema.map(([, name]) => name)
  assertSameDigests(scan.digests, expectedDigests(input, names), 'PyIceberg read from S3')
  return scan
}

/** The objects under the table's prefix, as s3:// locations. */
async function objects(prefix: string): Promise<string[]> {
  const storage = new S3LakeStorage(`s3://${s3.bucket}/${prefix}`, s3.options)
  try {
    return (await storage.list('')).map((key) => `s3://${s3.bucket}/${prefix}/${key}`).sort()
  } finally {
    storage.close()
  }
}

/** Every object but metadata files is one the table's snapshots reference, as PyIceberg resolves them. */
async function assertOnlyReferenced(db: string, table: string, prefix: string): Promise<void> {
  const referenced = await referencedFiles(db, table, 'sluice', s3Properties())
  const isMetadataFile = (f: string) => f.endsWith('.metadata.json')
  assert.deepEqual(
    (await objects(prefix)).filter((f) => !isMetadataFile(f)),
    referenced.files.filter((f) => !isMetadataFile(f)).sort(),
  )
}

function icebergS3(db: string, prefix: string): SinkSpec<Row> {
  return lake<Row>({
    path: `s3://${s3.bucket}/${prefix}`,
    s3: s3.options,
    format: 'iceberg',
    catalog: { sqlite: db, table: 'ns.events' },
    partitionBy: ['event_type', { field: 'at', transform: 'day' }],
  })
}

function withTimes(rows: readonly Row[]): Row[] {
  const start = Date.parse('2026-11-24T20:00:00Z')
  return rows.map((r, i) => ({ ...r, at: new Date(start + i * 97_000) }))
}

describe('lake({ format: "iceberg" }) in S3 (versitygw on 127.0.0.1)', () => {
  test('data files, manifests and metadata in the bucket, the catalog local: PyIceberg reads every row once through s3://, also after a compaction and an expiry', async () => {
    const dir = await tempDir()
    const db = join(dir, 'catalog.db')
    const input = withTimes(clickstream(2000, 61))
    const write = () =>
      run(pipeline('ice-s3').from(memorySource<Row>('e', input)).to(icebergS3(db, 'ice/events')), {
        checkpoint: join(dir, 'ckpt'),
        trigger: { kind: 'availableNow' },
        maxBatchRecords: 400,
      })
    await write()
    const scan = await assertReads(db, 'ns.events', input)
    assert.equal(scan.snapshots, 5)
    const keys = await objects('ice/events')
    assert.ok(
      keys.some((k) =>
        /\/data\/event_type=[a-z_]+\/at_day=2026-11-2\d\/part-\d+-[0-9a-f]{12}-0\.parquet$/.test(k),
      ),
    )
    assert.equal(keys.filter((k) => k.endsWith('.metadata.json')).length, 5)
    await assertOnlyReferenced(db, 'ns.events', 'ice/events')

    const catalog = { sqlite: db, table: 'ns.events' }
    const compacted = await compactIcebergTable({ catalog, s3: s3.options })
    assert.ok(compacted.rewrittenFiles > 0)
    const expired = await expireIcebergSnapshots({ catalog, s3: s3.options, olderThanMs: 0 })
    assert.equal(expired.expiredSnapshots, 5)
    assert.equal(expired.deleted.dataFiles, compacted.rewrittenFiles)
    assert.equal((await assertReads(db, 'ns.events', input)).snapshots, 1)
    await assertOnlyReferenced(db, 'ns.events', 'ice/events')
    assert.equal((await objects('ice/events')).filter((k) => k.endsWith('.metadata.json')).length, 2)
  })

  test('a crash after the data files are uploaded, before the catalog swap: PyIceberg does not read them, and the restart commits each row once and deletes them', async () => {
    const dir = await tempDir()
    const db = join(dir, 'catalog.db')
    const input = withTimes(clickstream(2000, 62))
    const spec = icebergS3(db, 'ice/crash')
    const build = (sink: SinkSpec<Row>) =>
      pipeline('ice-s3-crash').from(memorySource<Row>('e', input)).to(sink)
    const options = {
      checkpoint: join(dir, 'ckpt'),
      trigger: { kind: 'availableNow' } as const,
      maxBatchRecords: 400,
    }
    await assert.rejects(run(build(dyingAt(spec, 2)), options), /died before committing batch 2/)
    const orphans = (await objects('ice/crash')).filter((k) => /\/part-2-/.test(k))
    assert.ok(orphans.length > 0, 'the dead batch left data files in the bucket')
    await assertReads(db, 'ns.events', input.slice(0, 800))

    await run(build(spec), options)
    await assertReads(db, 'ns.events', input)
    // The replay wrote batch 2 again (under the same names): no object is left that nothing references.
    await assertOnlyReferenced(db, 'ns.events', 'ice/crash')
  })
})
