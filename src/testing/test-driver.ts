import type { Pipeline } from '../dsl/stream.ts'
import type { BatchOutput } from '../runtime/processor.ts'
import { BatchProcessor } from '../runtime/processor.ts'
import type { DeadLetter } from '../runtime/sink.ts'
import type { SourceRecord } from '../runtime/source.ts'

export interface SendOptions {
  /** Input partition; the watermark is the minimum over partitions. Default "p0". */
  readonly partition?: string
  readonly key?: string
  /** Record timestamp (ms), used as the source timestamp; default: the driver's clock. */
  readonly timestamp?: number
}

/**
 * Runs a pipeline without a broker, with a clock you move by hand: send records, advance time, run a batch,
 * read what came out. The same operators as the real runtime run underneath, so what passes here passes
 * there; only the source and sink are replaced. Like Kafka Streams' TopologyTestDriver or Spark's MemoryStream.
 *
 * ```ts
 * const driver = await TestDriver.create(pagesPerMinute, { startTime: Date.parse('2026-01-01T00:00:00Z') })
 * driver.send({ page: '/', event_time: '2026-01-01T00:00:10Z' })
 * driver.advanceTime(60_000)
 * driver.runBatch()
 * ```
 */
export class TestDriver<T> {
  #processor: BatchProcessor
  readonly #pipeline: Pipeline<T>
  #now: number
  #pending: SourceRecord[] = []
  readonly #offsets = new Map<string, number>()
  #batchId = 0
  readonly #rows: T[] = []
  readonly #deadLetters: DeadLetter[] = []

  private constructor(pipeline: Pipeline<T>, startTime: number) {
    this.#pipeline = pipeline
    this.#processor = new BatchProcessor(pipeline.plan)
    this.#now = startTime
  }

  static async create<T>(
    pipeline: Pipeline<T>,
    options: { startTime?: number } = {},
  ): Promise<TestDriver<T>> {
    const driver = new TestDriver(pipeline, options.startTime ?? 0)
    await driver.#loadTables()
    return driver
  }

  async #loadTables(): Promise<void> {
    for (const node of this.#processor.tableNodes())
      this.#processor.setTable(node.id, await node.table.load({}))
  }

  /** The driver's clock (ms). */
  get now(): number {
    return this.#now
  }

  /** The watermark the next batch will run under. */
  get watermark(): number {
    return this.#processor.watermarks.watermark
  }

  /** Every row the pipeline emitted so far, in order. */
  get output(): readonly T[] {
    return this.#rows
  }

  get deadLetters(): readonly DeadLetter[] {
    return this.#deadLetters
  }

  /** Queues values for the next batch. Objects, strings or bytes, exactly as a source would deliver them. */
  send(values: unknown | readonly unknown[], options: SendOptions = {}): this {
    const list = Array.isArray(values) ? values : [values]
    const partition = options.partition ?? 'p0'
    for (const value of list) {
      const offset = this.#offsets.get(partition) ?? 0
      this.#offsets.set(partition, offset + 1)
      this.#pending.push({
        partition,
        offset,
        key: options.key,
        value,
        timestamp: options.timestamp ?? this.#now,
      })
    }
    return this
  }

  advanceTime(ms: number): this {
    this.#now += ms
    return this
  }

  /** Runs one batch over everything sent since the last one (possibly none: a no-data batch that moves time). */
  runBatch(): BatchOutput {
    const records = this.#pending
    this.#pending = []
    const watermark = this.#processor.watermarks.advance(this.#now)
    const output = this.#processor.process(
      { batchId: this.#batchId++, records, watermark, batchTime: this.#now },
      this.#now,
    )
    this.#rows.push(...(output.rows as T[]))
    this.#deadLetters.push(...output.deadLetters)
    return output
  }

  /**
   * Simulates a restart: encodes every operator's state and event-time progress as a checkpoint would, builds
   * a fresh processor and loads them back. A pipeline whose results change across restart() has state that
   * does not survive a checkpoint.
   */
  async restart(): Promise<void> {
    const old = this.#processor
    const encoded = new Map(
      [...old.states].map(([id, state]) => [id, JSON.parse(JSON.stringify([...state.encodedEntries()]))]),
    )
    const time = JSON.parse(JSON.stringify(old.watermarks.snapshot())) as {
      watermark: number | null
      partitions: Record<string, number>
    }
    const fresh = new BatchProcessor(this.#pipeline.plan)
    for (const [id, state] of fresh.states) state.load(encoded.get(id) ?? [])
    fresh.afterRestore()
    fresh.watermarks.restore(
      { watermark: time.watermark ?? Number.NEGATIVE_INFINITY, partitions: time.partitions },
      this.#now,
    )
    this.#processor = fresh
    await this.#loadTables()
  }
}
