import type { Pipeline } from '../dsl/stream.ts'
import type { BatchOutput } from '../runtime/processor.ts'
import { BatchProcessor } from '../runtime/processor.ts'
import type { DeadLetter } from '../runtime/sink.ts'
import type { SourceRecord } from '../runtime/source.ts'
import { StateDatabase } from '../state/state-database.ts'

export interface SendOptions {
  /** Input partition; the watermark is the minimum over partitions. Default "p0". */
  readonly partition?: string
  readonly key?: string
  /** Record timestamp (ms), used as the source timestamp; default: the driver's clock. */
  readonly timestamp?: number
}

export interface TestDriverOptions {
  /** The driver's clock at the start (ms). Default 0. */
  readonly startTime?: number
  /**
   * Decoded state entries each operator keeps in memory between batches (RunOptions.stateCacheEntries).
   * A small number makes a test read its state back from the store, as a large state does in production.
   */
  readonly stateCacheEntries?: number
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
  /** An in-memory state store, committed after every batch as a checkpoint would. */
  readonly #database = StateDatabase.open(':memory:')
  readonly #cacheEntries: number | undefined
  #now: number
  #pending: SourceRecord[] = []
  readonly #offsets = new Map<string, number>()
  #batchId = 0
  readonly #rows: T[] = []
  readonly #deadLetters: DeadLetter[] = []

  private constructor(pipeline: Pipeline<T>, options: TestDriverOptions) {
    this.#pipeline = pipeline
    this.#cacheEntries = options.stateCacheEntries
    this.#processor = this.#newProcessor()
    this.#now = options.startTime ?? 0
  }

  static async create<T>(pipeline: Pipeline<T>, options: TestDriverOptions = {}): Promise<TestDriver<T>> {
    const driver = new TestDriver(pipeline, options)
    await driver.#loadTables()
    return driver
  }

  #newProcessor(): BatchProcessor {
    return new BatchProcessor(this.#pipeline.plan, {
      database: this.#database,
      ...(this.#cacheEntries !== undefined ? { stateCacheEntries: this.#cacheEntries } : {}),
    })
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
    const batchId = this.#batchId++
    const output = this.#processor.process({ batchId, records, watermark, batchTime: this.#now }, this.#now)
    this.#database.commit(
      batchId,
      this.#processor.states.values(),
      this.#processor.watermarks.snapshot().partitions,
    )
    this.#rows.push(...(output.rows as T[]))
    this.#deadLetters.push(...output.deadLetters)
    return output
  }

  /**
   * Ends the input, as a bounded source does when read to its end: runs one last batch over what was sent
   * with the watermark at +Infinity, so every open window and session is emitted (append) or final (update).
   * Records sent after it are late.
   */
  endInput(): BatchOutput {
    this.#processor.watermarks.endOfInput()
    return this.runBatch()
  }

  /**
   * Simulates a restart: a fresh processor over the committed state store (as after a crash between batches),
   * with the event-time progress committed with the last batch. A pipeline whose results change across
   * restart() has state that does not survive a checkpoint.
   */
  async restart(): Promise<void> {
    const watermark = this.#processor.watermarks.watermark
    const fresh = this.#newProcessor()
    const partitions = this.#batchId > 0 ? this.#database.restore(this.#batchId - 1) : {}
    for (const state of fresh.states.values()) state.afterRestore()
    fresh.watermarks.restore({ watermark, partitions }, this.#now)
    this.#processor = fresh
    await this.#loadTables()
  }

  /** Closes the in-memory state store. */
  close(): void {
    this.#database.close()
  }
}
