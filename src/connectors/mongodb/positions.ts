import type { ClientSession, Collection } from 'mongodb'
import type { Positions } from '../../runtime/source.ts'
import { NOTHING_STORED, type StoredPosition } from '../sql/index.ts'

/**
 * The pipeline's positions in MongoDB, in a collection beside the data: one document per source partition,
 *
 *   { _id: '["<pipeline>","<partition>"]', pipeline, partition, position, batch, previous, updatedAt }
 *
 * (position: the next offset to read; batch: the batch that wrote it; previous: the position before that
 * batch), and one marker per pipeline, { _id: '["<pipeline>"]', pipeline, batch, updatedAt }, the last batch
 * committed whole. Without a transaction the partitions' documents and then the marker are written one
 * after the other, after the batch's rows: a partition document whose batch is past the marker was written
 * by a batch that did not finish, and counts with its `previous` position. A partition's document is written
 * only by batches that read it, so instances that each own some partitions could share the collection; the
 * marker is shared, so the sink does not declare that it scales out.
 */
interface PositionDocument {
  _id: string
  pipeline: string
  partition?: string
  position?: number
  batch: number
  previous?: number | null
  updatedAt: Date
}

export class MongoPositions {
  readonly #collection: Collection<PositionDocument>
  readonly #pipelineId: string

  constructor(collection: Collection<PositionDocument>, pipelineId: string) {
    this.#collection = collection
    this.#pipelineId = pipelineId
  }

  /** What is committed: the marker's batch, and each partition's position as of that batch. */
  async read(session?: ClientSession): Promise<StoredPosition> {
    const documents = await this.#collection
      .find({ pipeline: this.#pipelineId }, session === undefined ? {} : { session })
      .toArray()
    const marker = documents.find((d) => d.partition === undefined)
    const batchId = marker?.batch ?? NOTHING_STORED.batchId
    const positions: Record<string, number> = {}
    for (const d of documents) {
      if (d.partition === undefined) continue
      const position = d.batch <= batchId ? d.position : d.previous
      if (typeof position === 'number') positions[d.partition] = position
    }
    return { batchId, positions }
  }

  /**
   * Writes `next` for the batch's partitions, then the marker (ordered: the marker only once every partition
   * is written). `committed` is read() of this batch's commit: what each partition had before it.
   */
  async store(
    batchId: number,
    next: Positions,
    committed: StoredPosition,
    session?: ClientSession,
  ): Promise<void> {
    const now = new Date()
    const partitions = Object.entries(next).map(([partition, position]) => ({
      updateOne: {
        filter: { _id: JSON.stringify([this.#pipelineId, partition]) },
        update: {
          $set: {
            pipeline: this.#pipelineId,
            partition,
            position,
            batch: batchId,
            previous: committed.positions[partition] ?? null,
            updatedAt: now,
          },
        },
        upsert: true,
      },
    }))
    const marker = {
      updateOne: {
        filter: { _id: JSON.stringify([this.#pipelineId]) },
        update: { $set: { pipeline: this.#pipelineId, batch: batchId, updatedAt: now } },
        upsert: true,
      },
    }
    // Few documents per command: FerretDB 1.24's update command never returns once it matches more than
    // about 50 existing documents.
    const operations = [...partitions, marker]
    for (let i = 0; i < operations.length; i += POSITION_CHUNK)
      await this.#collection.bulkWrite(operations.slice(i, i + POSITION_CHUNK), {
        ordered: true,
        ...(session === undefined ? {} : { session }),
      })
  }
}

const POSITION_CHUNK = 25
