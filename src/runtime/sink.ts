import { SluiceError } from '../errors.ts'
import type { RowType } from '../plan/row-type.ts'
import type { Positions, SourceReader, SourceRecord } from './source.ts'

/** A row leaving the pipeline (sink or dead-letter output). */
export interface OutputBatch<T> {
  /** Deterministic: the same batch id always carries the same rows, also when replayed after a crash. */
  readonly batchId: number
  readonly rows: readonly T[]
  readonly deadLetters: readonly DeadLetter[]
}

/** A record the pipeline could not process, with everything needed to find and fix it. */
export interface DeadLetter {
  readonly reason: string
  /** Operator that rejected it, e.g. "parse" or "window:page-views". */
  readonly operator: string
  readonly partition: string
  readonly offset: number
  readonly key: string | null
  /** The raw value: bytes as they arrived (base64 for non-UTF-8), or the JSON of an in-process object. */
  readonly raw: Buffer | string | null
  readonly timestamp: number
}

/**
 * The sink contract, two-phase like the checkpoint it serves:
 * 1. write(batch): make the rows durable but, where the sink can, not yet visible (an open transaction);
 * 2. commit(batch, next): make rows and the source position visible together.
 * A sink that holds the source position itself (`positionsFor`) gives exactly-once: on restart the runtime
 * asks it which batch it last committed. Others are at-least-once with deterministic batch ids.
 */
export interface SinkWriter<T> {
  readonly description: string
  readonly guarantee: 'exactly-once' | 'at-least-once'
  open(context: SinkOpenContext): Promise<void>
  write(batch: OutputBatch<T>): Promise<void>
  commit(batch: OutputBatch<T>, commit: SinkCommitContext): Promise<void>
  abort?(batch: OutputBatch<T>): Promise<void>
  /**
   * After a crash: did this sink already commit the batch? Exactly-once sinks answer from what they stored
   * with the data (a Kafka transaction's consumer offsets, an offsets row in SQL); others leave it out and
   * the batch is replayed (at-least-once, with the same batch id).
   */
  hasCommitted?(batch: { readonly batchId: number; readonly end: Positions }): Promise<boolean>
  /**
   * Sinks that store the source position with the data (the SQL sinks' offsets table, a Kafka transaction's
   * group offsets): the last batch they committed and the positions after it, undefined before the first.
   * Asked once after open(): a stateless pipeline starts from it whenever it is not where the checkpoint left
   * off (a lost or older checkpoint, another run), so it neither loses nor duplicates rows; a stateful one
   * stops when it is ahead (see planRecovery in recovery.ts and `sinkAheadOfCheckpoint`).
   */
  committedPosition?(): Promise<CommittedPosition | undefined>
  /**
   * The rows of the last written batch the sink could not take, as dead letters with the reason (a row that
   * is not an object, a field name no column can have, a table at its column limit, a value it cannot
   * encode); asked after write(), before commit(). A sink that keeps dead letters itself (a dead-letter
   * table) has stored them with the batch; the others' are sent on by withKafkaDeadLetters or logged. The
   * runtime counts them as dead-lettered and shows them with the pipeline's own.
   */
  rejected?(batch: OutputBatch<T>): readonly DeadLetter[]
  close(): Promise<void>
}

/** Where a sink's last committed batch left the source. */
export interface CommittedPosition {
  readonly batchId: number
  /** Next position to read, per partition. */
  readonly positions: Positions
}

export interface SinkOpenContext {
  readonly pipelineId: string
  readonly source: SourceReader
  /**
   * The field types the plan declares for the rows reaching the sink (its last parse step's schema, when no
   * step after it builds new values): table sinks take column types from it rather than from the values.
   */
  readonly rowType?: RowType | undefined
}

export interface SinkCommitContext {
  /** Next positions once this batch is committed. */
  readonly next: Positions
  /** The batch's input records: a Kafka transaction commits the consumer offsets from them. */
  readonly records: readonly SourceRecord[]
  /** Non-transactional sinks acknowledge the source once their write is durable. */
  readonly source: SourceReader
}

export interface SinkSpec<T> {
  readonly type: string
  readonly options: Readonly<Record<string, unknown>>
  create(): SinkWriter<T>
}

/**
 * The sink's position when it is ahead of the checkpoint: its last committed batch is later than any batch
 * the checkpoint knows (`checkpointBatchId`: the pending batch, else the last committed one, else -1), so
 * the checkpoint was deleted or is an older copy. A stateless pipeline starts from there, neither losing
 * nor duplicating rows. A pipeline with state (windows, dedupe) cannot rebuild it from a source position,
 * and starting there would write wrong aggregates: that is an error saying what to do.
 */
export async function sinkAheadOfCheckpoint(
  sink: SinkWriter<unknown>,
  checkpointBatchId: number,
  context: { readonly pipelineId: string; readonly checkpoint: string; readonly stateful: boolean },
): Promise<CommittedPosition | undefined> {
  const position = await sink.committedPosition?.()
  if (!position || position.batchId <= checkpointBatchId) return undefined
  if (!context.stateful) return position
  const where =
    checkpointBatchId < 0 ? 'has no batch (deleted?)' : `is at batch ${checkpointBatchId} (an older copy?)`
  throw new SluiceError(
    'SLUICE_CHECKPOINT_BEHIND_SINK',
    `Pipeline "${context.pipelineId}": ${sink.description} committed batch ${position.batchId}, but the ` +
      `checkpoint ${context.checkpoint} ${where}. The pipeline keeps state (windows, dedupe) that only the ` +
      'checkpoint holds and that cannot be rebuilt from the position the sink stored. If another run of this ' +
      'pipeline is going on with another checkpoint, stop one of them: a pipeline runs as one process for now. ' +
      "Otherwise restore the checkpoint directory, or start over: delete the pipeline's output and the " +
      'position the sink stored (its offsets row in a database, the consumer group with a Kafka sink), and ' +
      'the checkpoint.',
    { domain: 'user', exitCode: 2 },
  )
}

/**
 * Starts writing a batch while the checkpoint makes its offsets entry durable. An exactly-once sink's write
 * stays invisible until its commit, so it overlaps that fsync. An at-least-once sink's write is
 * seen at once (foreachBatch, console, Kafka without a Kafka source): it starts only once `durable` resolved,
 * or a crash could plan the same batch id again with other rows after these were seen.
 */
export function startWrite<T>(
  sink: SinkWriter<T>,
  batch: OutputBatch<T>,
  durable: Promise<unknown>,
): Promise<void> {
  if (sink.guarantee === 'exactly-once') return Promise.resolve().then(() => sink.write(batch))
  return durable.then(() => sink.write(batch))
}
