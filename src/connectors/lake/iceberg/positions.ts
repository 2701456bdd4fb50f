import { SluiceError } from '../../../errors.ts'
import type { Positions } from '../../../runtime/source.ts'
import { ancestry, type TableMetadata } from './metadata.ts'

/** Snapshot summary keys where a Sluice writer keeps its batch and the source positions after it. */
export const WRITER_KEY = 'sluice.writer'
export const BATCH_KEY = 'sluice.batch-id'
export const END_KEY = 'sluice.end'

/**
 * The table property holding a writer's last committed batch and the positions after it. The snapshot
 * summaries say the same per snapshot, but snapshot expiry removes snapshots (and a compaction's replace
 * snapshot carries no writer's positions), while properties are kept by every commit, Sluice's or another
 * engine's: written in the same metadata file as the snapshot, they commit with it in the catalog's swap.
 */
export const POSITION_PROPERTY_PREFIX = 'sluice.last-batch.'

export interface WriterPosition {
  readonly batchId: number
  readonly end: Positions
}

/** The writer's last committed batch: from the table property, else (tables before it) the snapshots. */
export function writerPosition(metadata: TableMetadata, writer: string): WriterPosition | undefined {
  const property = metadata.properties[`${POSITION_PROPERTY_PREFIX}${writer}`]
  if (property !== undefined) {
    const parsed = parseProperty(property)
    if (!parsed)
      throw new SluiceError(
        'SLUICE_ICEBERG_POSITION',
        `lake: the table property ${POSITION_PROPERTY_PREFIX}${writer} is not the {"batch-id", "end"} Sluice writes (${property.slice(0, 200)}): it was changed by hand? Remove it to fall back on the snapshots' summaries, or give lake({ writerId }) a new id.`,
        { domain: 'user' },
      )
    return parsed
  }
  for (const snapshot of ancestry(metadata)) {
    if (snapshot.summary[WRITER_KEY] !== writer) continue
    return {
      batchId: Number(snapshot.summary[BATCH_KEY]),
      end: JSON.parse(snapshot.summary[END_KEY] ?? '{}'),
    }
  }
  return undefined
}

export function withWriterPosition(
  metadata: TableMetadata,
  writer: string,
  position: WriterPosition,
): TableMetadata {
  const value = JSON.stringify({ 'batch-id': position.batchId, end: position.end })
  return {
    ...metadata,
    properties: { ...metadata.properties, [`${POSITION_PROPERTY_PREFIX}${writer}`]: value },
  }
}

/** Whether the current snapshot's ancestry stops at a parent that is no longer in the table (expired). */
export function hasExpiredAncestors(metadata: TableMetadata): boolean {
  const ids = new Set(metadata.snapshots.map((s) => s['snapshot-id']))
  let oldest: TableMetadata['snapshots'][number] | undefined
  for (const snapshot of ancestry(metadata)) oldest = snapshot
  const parent = oldest?.['parent-snapshot-id']
  return parent !== undefined && parent !== null && !ids.has(parent)
}

function parseProperty(text: string): WriterPosition | undefined {
  try {
    const value = JSON.parse(text) as { 'batch-id'?: unknown; end?: unknown }
    const batchId = value['batch-id']
    if (!Number.isSafeInteger(batchId) || typeof value.end !== 'object' || value.end === null)
      return undefined
    return { batchId: batchId as number, end: value.end as Positions }
  } catch {
    return undefined
  }
}
