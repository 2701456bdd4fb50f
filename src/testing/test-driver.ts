import { partitionForKey } from '../connectors/kafka/partition-for-key.ts'
import type { Pipeline } from '../dsl/stream.ts'
import { UsageError } from '../errors.ts'
import type { LookupTable } from '../plan/nodes.ts'
import { addCounters, newCounters } from '../runtime/operators/context.ts'
import type { BatchOutput } from '../runtime/processor.ts'
import { BatchProcessor } from '../runtime/processor.ts'
import { scaleOutBlockers } from '../runtime/scale-out.ts'
import type { DeadLetter } from '../runtime/sink.ts'
import type { SourceRecord } from '../runtime/source.ts'
import { StateDatabase } from '../state/state-database.ts'
import { DriverTasks, type TaskMove } from './driver-tasks.ts'

export type { TaskMove } from './driver-tasks.ts'

export interface SendOptions {
  /**
   * Input partition. Partitioned (`partitions: N`): a number in [0, N), default the partition Kafka's
   * producer sends `key` to. Otherwise a name; the watermark is the minimum over partitions. Default "p0".
   */
  readonly partition?: string | number
  readonly key?: string
  /** Record timestamp (ms), used as the source timestamp; default: the driver's clock. */
  readonly timestamp?: number
  /** Record headers, as a Kafka record's (steps read them as RecordMeta.headers). */
  readonly headers?: Readonly<Record<string, string>>
}

export interface TestDriverOptions {
  /** The driver's clock at the start (ms). Default 0. */
  readonly startTime?: number
  /**
   * Decoded state entries each operator keeps in memory between batches (RunOptions.stateCacheEntries).
   * A small number makes a test read its state back from the store, as a large state does in production.
   */
  readonly stateCacheEntries?: number
  /**
   * Runs the pipeline as a scaled-out run runs it: a task per input partition, each with its own state and
   * its own watermark, state changes written to changelog topics (kept by the driver, in memory). The plan's
   * keyed steps must follow the input's partitioning (keyByRecordKey(), or `partitioned: true`).
   */
  readonly partitions?: number
  /**
   * Partitioned: the folder of the tasks' local stores, so that moveTasks(…, { restoreFrom: 'local' }) can
   * reopen one. Default: stores in memory, and a moved task restores from the changelog.
   */
  readonly stateDirectory?: string
}

export interface MoveTasksOptions {
  /**
   * 'changelog' (default): the partition moves to an instance with an empty disk, which restores its state
   * from the changelog. 'local': it comes back to the instance of `stateDirectory`, which reopens its local
   * store when the store is current (else restores from the changelog, as the runtime does).
   */
  readonly restoreFrom?: 'local' | 'changelog'
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
 *
 * With `partitions: N` the driver runs the pipeline the way a scaled-out run does, through the runtime's own
 * Task: records go to a partition (`send(v, { partition: 3 })`, or with only a `key` to the partition the Kafka
 * producer picks), each partition's task keeps its keys' state and its own watermark, and moveTasks()
 * simulates a rebalance: the tasks are closed and restored elsewhere from the changelog. The changelog topics
 * live in the driver, in memory, as its stand-in for Kafka (as it stands in for the source and the sink).
 *
 * ```ts
 * const driver = await TestDriver.create(countsPerKey, { partitions: 4 })
 * driver.send(events, { key: 'user-7' }).runBatch()
 * await driver.moveTasks([1, 3]) // their state restores from the changelog
 * driver.outputOf(1) // what partition 1's task emitted
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
  /** Partitioned mode: a runtime Task per partition (undefined: one processor runs the whole input). */
  #tasks: DriverTasks | undefined
  readonly #stateDirectory: string | undefined
  /** The parse steps' fetches before decoding (a schema registry's schemas by id), run before each batch. */
  readonly #preparers: readonly ((values: readonly unknown[]) => Promise<void>)[]

  private constructor(pipeline: Pipeline<T>, options: TestDriverOptions) {
    this.#pipeline = pipeline
    this.#preparers = pipeline.plan.nodes.flatMap((node) =>
      node.kind === 'parse' && node.prepare ? [node.prepare] : [],
    )
    this.#cacheEntries = options.stateCacheEntries
    this.#stateDirectory = options.stateDirectory
    this.#processor = this.#newProcessor()
    this.#now = options.startTime ?? 0
  }

  static async create<T>(pipeline: Pipeline<T>, options: TestDriverOptions = {}): Promise<TestDriver<T>> {
    const { partitions } = options
    if (partitions !== undefined) checkPartitioned(pipeline, partitions)
    const driver = new TestDriver(pipeline, options)
    const tables = await driver.#loadTables()
    if (partitions !== undefined)
      driver.#tasks = await DriverTasks.open({
        plan: pipeline.plan,
        partitions,
        stateDirectory: options.stateDirectory,
        stateCacheEntries: options.stateCacheEntries,
        tables,
        now: () => driver.#now,
      })
    return driver
  }

  #newProcessor(): BatchProcessor {
    return new BatchProcessor(this.#pipeline.plan, {
      database: this.#database,
      ...(this.#cacheEntries !== undefined ? { stateCacheEntries: this.#cacheEntries } : {}),
    })
  }

  async #loadTables(): Promise<Map<string, LookupTable>> {
    const tables = new Map<string, LookupTable>()
    for (const node of this.#processor.tableNodes()) {
      const table = await node.table.load({})
      this.#processor.setTable(node.id, table)
      tables.set(node.id, table)
    }
    return tables
  }

  /** The driver's clock (ms). */
  get now(): number {
    return this.#now
  }

  /** The watermark the next batch will run under (partitioned: the lowest of the tasks' watermarks). */
  get watermark(): number {
    return this.#tasks ? this.#tasks.watermark : this.#processor.watermarks.watermark
  }

  /** Every row the pipeline emitted so far, in order (partitioned: per batch, in partition order). */
  get output(): readonly T[] {
    return this.#rows
  }

  /** Partitioned: the watermark of partition p's task (from that partition's event time only). */
  watermarkOf(partition: number): number {
    return this.#partitioned('watermarkOf').watermarkOf(this.#partitionNumber(partition))
  }

  /** Partitioned: the rows partition p's task emitted, in order, across the moves of the task. */
  outputOf(partition: number): readonly T[] {
    return this.#partitioned('outputOf').rowsOf(this.#partitionNumber(partition)) as readonly T[]
  }

  /** Partitioned: the partition a record with this key goes to (the Kafka producer's choice). */
  partitionOf(key: string): number {
    return partitionForKey(key, this.#partitioned('partitionOf').partitions)
  }

  get deadLetters(): readonly DeadLetter[] {
    return this.#deadLetters
  }

  /** Queues values for the next batch. Objects, strings or bytes, exactly as a source would deliver them. */
  send(values: unknown | readonly unknown[], options: SendOptions = {}): this {
    const list = Array.isArray(values) ? values : [values]
    const partition = this.#partitionName(options)
    for (const value of list) {
      const offset = this.#offsets.get(partition) ?? 0
      this.#offsets.set(partition, offset + 1)
      this.#pending.push({
        partition,
        offset,
        key: options.key,
        value,
        timestamp: options.timestamp ?? this.#now,
        ...(options.headers ? { headers: new Map(Object.entries(options.headers)) } : {}),
      })
    }
    return this
  }

  advanceTime(ms: number): this {
    this.#now += ms
    return this
  }

  /**
   * Runs one batch over everything sent since the last one (possibly none: a no-data batch that moves time).
   * A pipeline whose parse step fetches before it decodes (`parse(registry(…))`) needs runBatchAsync().
   */
  runBatch(): BatchOutput {
    this.#checkPrepared('runBatch')
    return this.#runBatch(false)
  }

  /**
   * runBatch() for any pipeline, also one whose parse step fetches before it decodes (`parse(registry(…))`:
   * the schemas of the records' ids): awaits those fetches first, as the runtime does before each batch.
   *
   * ```ts
   * await driver.send(framedBytes).runBatchAsync()
   * ```
   */
  async runBatchAsync(): Promise<BatchOutput> {
    await this.#prepare()
    return this.#runBatch(false)
  }

  /** endInput() for any pipeline, awaiting the parse steps' fetches first (see runBatchAsync()). */
  async endInputAsync(): Promise<BatchOutput> {
    await this.#prepare()
    return this.#endInput()
  }

  async #prepare(): Promise<void> {
    const values = this.#pending.map((record) => record.value)
    for (const prepare of this.#preparers) await prepare(values)
  }

  /** The sync methods cannot await a fetch: without it every record would be a dead letter, so say so. */
  #checkPrepared(method: string): void {
    if (this.#preparers.length > 0 && this.#pending.length > 0)
      throw new UsageError(
        `TestDriver.${method}(): pipeline "${this.#pipeline.plan.pipelineId}" parses with a step that fetches before it decodes (a schema registry): use await driver.${method}Async().`,
      )
  }

  #runBatch(endOfInput: boolean): BatchOutput {
    const records = this.#pending
    this.#pending = []
    if (this.#tasks) {
      const batch = { batchId: this.#batchId++, records, batchTime: this.#now }
      const output = this.#tasks.runBatch(batch, this.#now, endOfInput)
      this.#rows.push(...(output.rows as T[]))
      this.#deadLetters.push(...output.deadLetters)
      return output
    }
    if (endOfInput) this.#processor.watermarks.endOfInput()
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
   * Ends the input, as a bounded source does when read to its end: runs a batch over what was sent and not
   * yet run, then one last batch with the watermark at +Infinity, so every open window and session is
   * emitted (append) or final (update). Returns both batches' output as one. Records sent after it are late.
   */
  endInput(): BatchOutput {
    this.#checkPrepared('endInput')
    return this.#endInput()
  }

  #endInput(): BatchOutput {
    if (this.#pending.length === 0) return this.#runBatch(true)
    const sent = this.#runBatch(false)
    const last = this.#runBatch(true)
    const counters = newCounters()
    addCounters(counters, sent.counters)
    addCounters(counters, last.counters)
    return {
      rows: [...sent.rows, ...last.rows],
      deadLetters: [...sent.deadLetters, ...last.deadLetters],
      counters,
    }
  }

  /**
   * Partitioned: simulates a rebalance that moves the tasks of `partitions` to another instance (between
   * batches, as the runtime moves them): each task suspends and closes, and a new one restores the
   * partition's state at its committed position through the changelog contract, then runs on. Results must
   * be the same as without the move; returns where each task's state came from.
   */
  async moveTasks(partitions: readonly number[], options: MoveTasksOptions = {}): Promise<TaskMove[]> {
    const tasks = this.#partitioned('moveTasks')
    const restoreFrom = options.restoreFrom ?? 'changelog'
    if (restoreFrom === 'local' && this.#stateDirectory === undefined)
      throw new UsageError(
        "moveTasks(…, { restoreFrom: 'local' }) needs local stores on disk: create the driver with a stateDirectory.",
      )
    return tasks.move(
      partitions.map((p) => this.#partitionNumber(p)),
      restoreFrom,
    )
  }

  /**
   * Simulates a restart: a fresh processor over the committed state store (as after a crash between batches),
   * with the event-time progress committed with the last batch. A pipeline whose results change across
   * restart() has state that does not survive a checkpoint. Partitioned: every task moves (moveTasks), from
   * its local store when the driver has a stateDirectory, else from the changelog.
   */
  async restart(): Promise<void> {
    if (this.#tasks) {
      const all = Array.from({ length: this.#tasks.partitions }, (_, p) => p)
      await this.moveTasks(all, { restoreFrom: this.#stateDirectory === undefined ? 'changelog' : 'local' })
      return
    }
    const watermark = this.#processor.watermarks.watermark
    const fresh = this.#newProcessor()
    const partitions = this.#batchId > 0 ? this.#database.restore(this.#batchId - 1) : {}
    for (const state of fresh.states.values()) state.afterRestore()
    fresh.watermarks.restore({ watermark, partitions }, this.#now)
    this.#processor = fresh
    await this.#loadTables()
  }

  /** Closes the state stores. */
  close(): void {
    this.#tasks?.close()
    this.#database.close()
  }

  #partitioned(method: string): DriverTasks {
    if (!this.#tasks)
      throw new UsageError(
        `TestDriver.${method}() needs a partitioned driver: TestDriver.create(pipeline, { partitions: N }).`,
      )
    return this.#tasks
  }

  #partitionNumber(partition: number): number {
    const count = this.#partitioned('partition').partitions
    if (!Number.isInteger(partition) || partition < 0 || partition >= count)
      throw new UsageError(
        `Partition ${partition} does not exist: the driver has partitions 0 to ${count - 1}.`,
      )
    return partition
  }

  /** The partition a sent record goes to, by name (SourceRecord.partition). */
  #partitionName(options: SendOptions): string {
    const { partition, key } = options
    if (!this.#tasks) return typeof partition === 'number' ? `p${partition}` : (partition ?? 'p0')
    if (typeof partition === 'string')
      throw new UsageError(
        `A partitioned driver numbers its partitions: send(value, { partition: 0 to ${this.#tasks.partitions - 1} }), not "${partition}".`,
      )
    if (partition !== undefined) return DriverTasks.partitionName(this.#partitionNumber(partition))
    if (key === undefined)
      throw new UsageError(
        'A partitioned driver needs a partition or a key for each record it is sent: send(value, { key }) goes where the Kafka producer would send that key.',
      )
    return DriverTasks.partitionName(this.partitionOf(key))
  }
}

/** A partitioned driver runs only what a scaled-out run would: state that follows the input's partitioning. */
function checkPartitioned(pipeline: Pipeline<unknown>, partitions: number): void {
  if (!Number.isInteger(partitions) || partitions < 1)
    throw new UsageError(
      `TestDriver option partitions must be a whole number of at least 1, not ${partitions}.`,
    )
  const blockers = scaleOutBlockers(pipeline.plan, { connectors: false })
  if (blockers.length > 0)
    throw new UsageError(
      `Pipeline "${pipeline.plan.pipelineId}" cannot run partitioned, as it could not scale out: ${blockers.join('; ')}.`,
    )
}
