import assert from 'node:assert/strict'
import { type LakeOptions, lake } from '../../../src/connectors/lake/index.ts'
import type { OutputBatch, PartitionPositionStore, SinkWriter } from '../../../src/runtime/sink.ts'
import type { Positions, SourceReader, SourceRecord } from '../../../src/runtime/source.ts'
import type { Row } from './helpers.ts'

/**
 * Lake writers driven the way the runtime drives the instances of a scaled-out pipeline (open with an
 * instance name, read a partition's position at assignment, commit with the expected positions), for the
 * tests of tables written by several instances.
 */

export const source = { acknowledge: async () => {} } as unknown as SourceReader

export interface Opened {
  readonly sink: SinkWriter<Row>
  readonly positions: PartitionPositionStore
}

/** Instance `name` of pipeline `pipelineId` (default "p"). */
export async function instance(options: LakeOptions<Row>, name: string, pipelineId = 'p'): Promise<Opened> {
  const sink = lake<Row>({ ...options, scaleOut: true }).create()
  const contract = await sink.open({ pipelineId, source, instance: name })
  assert.ok(contract.partitionPositions, 'a scaled-out lake writer keeps positions per partition')
  return { sink, positions: contract.partitionPositions }
}

/** Records of `partition` at offsets [from, to), each row naming its input. */
export function input(partition: string, from: number, to: number): { records: SourceRecord[]; rows: Row[] } {
  const records: SourceRecord[] = []
  const rows: Row[] = []
  for (let offset = from; offset < to; offset++) {
    records.push({ partition, offset, key: null, value: null, timestamp: 0 })
    rows.push({ input: `${partition}@${offset}` })
  }
  return { records, rows }
}

/** Writes and commits one batch of `parts` (each [partition, from, to]) the way the runtime does. */
export async function commit(
  sink: SinkWriter<Row>,
  batchId: number,
  parts: readonly (readonly [string, number, number])[],
  expected: Positions,
): Promise<void> {
  const records: SourceRecord[] = []
  const rows: Row[] = []
  const next: Record<string, number> = {}
  for (const [partition, from, to] of parts) {
    const part = input(partition, from, to)
    records.push(...part.records)
    rows.push(...part.rows)
    next[partition] = to
  }
  const batch: OutputBatch<Row> = { batchId, rows, deadLetters: [] }
  await sink.write(batch)
  try {
    await sink.commit(batch, { next, records, expected })
  } catch (error) {
    await sink.abort?.(batch)
    throw error
  }
}

export const inputs = (rows: readonly Row[]) => rows.map((r) => String(r.input)).sort()
