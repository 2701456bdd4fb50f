import { randomUUID } from 'node:crypto'
import type { Table } from '../../dsl/stream.ts'
import { UsageError } from '../../errors.ts'
import type { LookupTable } from '../../plan/nodes.ts'
import { KafkaAdmin } from './admin.ts'
import type { KafkaConnection } from './connection.ts'
import { KafkaConsumer } from './consumer.ts'
import type { ConsumedRecord } from './records.ts'

export interface TopicTableOptions extends KafkaConnection {
  /** A (compacted) topic: the latest record per key is the row; a null value deletes it. */
  readonly topic: string
}

/**
 * A lookup table kept current from a Kafka topic, the usual home of reference data (a compacted topic per
 * entity). Loading reads the topic to its end before the first batch; between batches the table applies
 * whatever arrived since, so joins see updates within about one batch. Values are JSON; keys are the record
 * keys as UTF-8.
 */
class TopicTable implements LookupTable {
  readonly #rows = new Map<string, unknown>()
  readonly #consumer: KafkaConsumer
  readonly #topic: string

  constructor(options: TopicTableOptions) {
    this.#topic = options.topic
    // A group of its own that never commits: every process loads the whole table.
    this.#consumer = new KafkaConsumer({
      ...options,
      groupId: `sluice-table-${randomUUID()}`,
      topics: [options.topic],
      start: { from: 'earliest' },
    })
  }

  get size(): number {
    return this.#rows.size
  }

  get(key: string): unknown {
    return this.#rows.get(key)
  }

  async load(connection: KafkaConnection, signal?: AbortSignal): Promise<void> {
    const admin = new KafkaAdmin(connection)
    let end: Map<number, bigint>
    try {
      if ((await admin.partitionCount(this.#topic)) === undefined) {
        throw new UsageError(`The join table's topic "${this.#topic}" does not exist.`)
      }
      end = await admin.offsets(this.#topic)
    } finally {
      await admin.close()
    }
    const target = new Map([...end].map(([p, o]) => [`${this.#topic}:${p}`, o]))
    const deadline = Date.now() + 120_000
    while (!this.#consumer.caughtUp(target)) {
      if (signal?.aborted) return
      if (Date.now() > deadline)
        throw new UsageError(`Loading the join table from "${this.#topic}" took over 2 minutes.`)
      this.#apply(await this.#consumer.poll({ maxRecords: 10_000, lingerMs: 0, idleMs: 200 }))
    }
  }

  async refresh(): Promise<void> {
    this.#apply(await this.#consumer.poll({ maxRecords: 10_000, lingerMs: 0, idleMs: 0 }))
  }

  #apply(records: readonly ConsumedRecord[]): void {
    for (const record of records) {
      if (!record.key) continue
      const key = record.key.toString('utf8')
      if (record.value === null || record.value === undefined || record.value.length === 0) {
        this.#rows.delete(key)
        continue
      }
      try {
        this.#rows.set(key, JSON.parse(record.value.toString('utf8')))
      } catch {
        // A row that is not JSON cannot be joined; keep the previous version rather than stop the pipeline.
      }
    }
  }

  async close(): Promise<void> {
    await this.#consumer.close()
  }
}

/** A join table from a compacted topic: `stream.join(topicTable({ topic: 'products' }), e => e.product_id, …)`. */
export function topicTable<R>(options: TopicTableOptions): Table<R> {
  return {
    spec: {
      type: 'kafka-topic',
      options: { topic: options.topic },
      load: async ({ signal }) => {
        const table = new TopicTable(options)
        await table.load(options, signal)
        return table
      },
    },
  }
}
