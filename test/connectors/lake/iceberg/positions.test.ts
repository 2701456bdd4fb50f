import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Snapshot, TableMetadata } from '../../../../src/connectors/lake/iceberg/metadata.ts'
import { withWriterPosition, writerPosition } from '../../../../src/connectors/lake/iceberg/positions.ts'

function table(snapshots: Snapshot[], properties: Record<string, string> = {}): TableMetadata {
  return {
    'format-version': 2,
    'table-uuid': '00000000-0000-0000-0000-000000000000',
    location: 'file:///t',
    'last-sequence-number': snapshots.length,
    'last-updated-ms': 0,
    'last-column-id': 0,
    schemas: [{ type: 'struct', 'schema-id': 0, fields: [] }],
    'current-schema-id': 0,
    'partition-specs': [{ 'spec-id': 0, fields: [] }],
    'default-spec-id': 0,
    'last-partition-id': 999,
    properties,
    'current-snapshot-id': snapshots.at(-1)?.['snapshot-id'] ?? null,
    snapshots,
    'snapshot-log': [],
    'metadata-log': [],
    'sort-orders': [{ 'order-id': 0, fields: [] }],
    'default-sort-order-id': 0,
  }
}

const append = (id: number, batch: number, end: number): Snapshot => ({
  'snapshot-id': id,
  ...(id > 1 ? { 'parent-snapshot-id': id - 1 } : {}),
  'sequence-number': id,
  'timestamp-ms': id,
  'manifest-list': `file:///t/metadata/snap-${id}.avro`,
  summary: {
    operation: 'append',
    'sluice.writer': 'w',
    'sluice.batch-id': String(batch),
    'sluice.end': JSON.stringify({ memory: end }),
  },
})

test("a writer's position: the table property first, the snapshots' summaries for tables written before it, and a broken property is an error saying what to do", () => {
  const snapshots = [append(1, 0, 100), append(2, 1, 200)]
  assert.deepEqual(writerPosition(table(snapshots), 'w'), { batchId: 1, end: { memory: 200 } })
  assert.equal(writerPosition(table(snapshots), 'other'), undefined)
  // A replace snapshot on top, the writer's snapshots expired: only the property has the position.
  const replace: Snapshot = { ...append(3, 0, 0), 'parent-snapshot-id': 2, summary: { operation: 'replace' } }
  const expired = withWriterPosition(table([replace]), 'w', { batchId: 1, end: { memory: 200 } })
  assert.deepEqual(writerPosition(expired, 'w'), { batchId: 1, end: { memory: 200 } })
  assert.equal(writerPosition(table([replace]), 'w'), undefined)
  assert.throws(
    () => writerPosition(table([replace], { 'sluice.last-batch.w': '{"batch-id":"x"}' }), 'w'),
    /the table property sluice\.last-batch\.w is not the \{"batch-id", "end"\} Sluice writes/,
  )
})
