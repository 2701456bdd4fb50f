import type { Checkpoint, OffsetsEntry } from '../checkpoint/checkpoint.ts'
import type { Logger } from '../log.ts'
import type { BatchOutput, BatchProcessor } from './processor.ts'
import { type DeadLetter, type OutputBatch, type SinkContract, type SinkWriter, startWrite } from './sink.ts'
import type { Positions, SourceReader, SourceRecord } from './source.ts'

/**
 * The commit protocol of one batch, executed here and nowhere else. For batch N:
 *   1. plan     the offsets log records N's input range, watermark and time (write-ahead). Its fdatasync runs
 *               while N is processed and written; only step 4 waits for it.
 *   2. process  the operators run (in the caller, between plan() and finish()); state changes stay in the
 *               state store's open transaction.
 *   3. write    the sink makes N's rows (and a scaled-out run's state changes, for the changelog topics)
 *               durable, invisible where it can: an exactly-once sink starts at once,
 *               overlapping step 1's fsync; an at-least-once sink, whose write is seen, only once 1 is durable.
 *   4. commit   the sink makes rows (and, where its contract says so, the positions) visible. It waits for 1,
 *               except a sink that stores positions under a stateless plan (a lost entry only means the run
 *               resumes from the sink, see RecoveryPlan).
 *   5. ack      the runtime acknowledges the source (a Kafka group's offsets, for lag tools), unless the
 *               sink's commit carried the source's offsets itself (a Kafka transaction).
 *   6. state    about once per `stateCommitIntervalMs`, the state store commits N's state and event-time
 *               progress (one SQLite transaction); batches the sink has and the store does not are rebuilt
 *               after a crash (Checkpoint.committedSinceState).
 *   7. mark     the checkpoint marks N done (after step 1 is durable, always); old offsets entries are pruned.
 * A failure before 4 completes aborts the sink's batch and is thrown: the run restarts from the checkpoint,
 * and recovery (recovery.ts) decides from the sink's and the checkpoint's records what N still needs.
 */
export class CommitProtocol {
  readonly #checkpoint: Checkpoint
  readonly #sink: SinkWriter<unknown>
  readonly #contract: SinkContract
  readonly #source: SourceReader
  readonly #processor: BatchProcessor
  readonly #options: CommitOptions
  /** The sink may commit before step 1 is durable (see step 4). */
  readonly #sinkKeepsPosition: boolean
  #stateSavedThrough: number
  #stateCommittedAt = performance.now()
  #lastBatchId: number

  constructor(parts: CommitParts, options: CommitOptions) {
    this.#checkpoint = parts.checkpoint
    this.#sink = parts.sink
    this.#contract = parts.contract
    this.#source = parts.source
    this.#processor = parts.processor
    this.#sinkKeepsPosition = parts.sinkKeepsPosition
    this.#stateSavedThrough = parts.stateSavedThrough
    this.#lastBatchId = parts.lastBatchId
    this.#options = options
  }

  /** Step 1. The returned batch is finished (or abandoned) by finish(). */
  plan(entry: OffsetsEntry): PlannedBatch {
    const started = performance.now()
    const durable = this.#checkpoint.planBatch(entry)
    durable.catch(() => {}) // awaited in finish(), before the sink commits
    return { entry, durable, planMs: performance.now() - started }
  }

  /**
   * Steps 3 to 7 for a processed batch. `write` is false for a batch the sink already has, replayed only to
   * rebuild state: then nothing is written, committed or acknowledged. `expected`: see
   * SinkCommitContext.expected (a scaled-out run into a sink with a position per partition).
   */
  async finish(
    planned: PlannedBatch,
    output: BatchOutput,
    records: readonly SourceRecord[],
    write: boolean,
    expected?: Positions,
  ): Promise<CommitTimes> {
    const { entry, durable } = planned
    const sinkStart = performance.now()
    const batch: OutputBatch<unknown> = {
      batchId: entry.batchId,
      rows: output.rows,
      deadLetters: output.deadLetters,
      ...(output.changelog ? { changelog: output.changelog } : {}),
    }
    if (write && output.deadLetters.length > 0 && !this.#contract.storesDeadLetters) this.#log(output)
    // Step 3.
    const writing = write ? startWrite(this.#sink, this.#contract, batch, durable) : Promise.resolve()
    writing.catch(() => {}) // awaited below
    const durableStart = performance.now()
    try {
      if (!this.#sinkKeepsPosition) await durable
    } catch (error) {
      await writing.catch(() => {})
      if (write) await this.#sink.abort?.(batch).catch(() => {})
      throw error
    }
    const durableMs = performance.now() - durableStart
    if (write) {
      try {
        await writing
        await this.#sink.commit(batch, {
          next: entry.end,
          records,
          ...(output.heldPartitions ? { heldPartitions: output.heldPartitions } : {}),
          ...(expected ? { expected } : {}),
        }) // step 4
        if (!this.#contract.commitsSourceOffsets) await this.#source.acknowledge?.(entry.end, records) // 5
      } catch (error) {
        this.#options.onSinkError?.(error, entry.batchId)
        await this.#sink.abort?.(batch).catch(() => {})
        throw error
      }
    }
    const sinkMs = performance.now() - sinkStart - durableMs
    // The rows the sink could not take (SinkWriter.rejected): dead letters like the pipeline's own.
    const refused = write ? (this.#sink.rejected?.(batch) ?? []) : []
    if (refused.length > 0 && !this.#contract.storesDeadLetters) {
      for (const d of refused.slice(0, 20))
        this.#options.logger.warn({ operator: d.operator, reason: d.reason }, 'row refused by the sink')
    }

    const markStart = performance.now()
    if (this.#sinkKeepsPosition) await durable // the entry before the marker, always
    this.#lastBatchId = entry.batchId
    // Step 6: synchronous SQLite, one WAL fsync.
    if (this.#checkpoint.stateDatabase && markStart - this.#stateCommittedAt >= this.#options.stateCommitMs) {
      this.#saveState(entry.batchId)
      this.#stateCommittedAt = performance.now()
    }
    // Step 7. Offsets entries stay for the batches after the saved state (and 20 more): recovery replays them.
    await this.#checkpoint.commitBatch(entry.batchId)
    if (entry.batchId % 10 === 0)
      await this.#checkpoint.prune(
        this.#checkpoint.stateDatabase
          ? Math.min(entry.batchId, this.#stateSavedThrough + 21)
          : entry.batchId,
      )
    const checkpointMs = planned.planMs + durableMs + (performance.now() - markStart)
    return { checkpointMs, sinkMs, refused }
  }

  /** Stopping: the state of the last batch is committed, so the next start has nothing to rebuild. */
  stop(): void {
    if (this.#checkpoint.stateDatabase && this.#lastBatchId > this.#stateSavedThrough)
      this.#saveState(this.#lastBatchId)
  }

  #saveState(batchId: number): void {
    this.#checkpoint.saveState(
      batchId,
      this.#processor.states,
      this.#processor.watermarks.snapshot().partitions,
    )
    this.#stateSavedThrough = batchId
  }

  /** A sink that does not keep dead letters: the first ones of the batch go to the log. */
  #log(output: BatchOutput): void {
    for (const d of output.deadLetters.slice(0, 20)) {
      this.#options.logger.warn(
        { operator: d.operator, source: `${d.partition}@${d.offset}`, reason: d.reason },
        'dead letter',
      )
    }
  }
}

export interface CommitParts {
  readonly checkpoint: Checkpoint
  readonly sink: SinkWriter<unknown>
  readonly contract: SinkContract
  readonly source: SourceReader
  readonly processor: BatchProcessor
  /** From the recovery plan: the sink may commit before the offsets entry is durable. */
  readonly sinkKeepsPosition: boolean
  /** The newest batch whose state the store holds (-1: none). */
  readonly stateSavedThrough: number
  /** The last batch committed before this run (-1: none). */
  readonly lastBatchId: number
}

export interface CommitOptions {
  readonly stateCommitMs: number
  readonly logger: Logger
  readonly onSinkError?: (error: unknown, batchId: number) => void
}

/** A batch whose offsets entry is being made durable (step 1). */
export interface PlannedBatch {
  readonly entry: OffsetsEntry
  readonly durable: Promise<void>
  readonly planMs: number
}

export interface CommitTimes {
  /** Steps 1, 6 and 7, and the wait for step 1 before step 4. */
  readonly checkpointMs: number
  /** Steps 3 to 5. */
  readonly sinkMs: number
  /** Rows the sink refused (written to its dead-letter output, where it has one). */
  readonly refused: readonly DeadLetter[]
}
