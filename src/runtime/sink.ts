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
   * Sinks that store the source position with the data (the SQL sinks' offsets table): the last batch they
   * committed and the positions after it, undefined before the first. Asked once after open(): when it is
   * ahead of the checkpoint (deleted, or an older copy), a stateless pipeline starts from it, so a lost
   * checkpoint neither loses nor duplicates rows (see `sinkAheadOfCheckpoint`).
   */
  committedPosition?(): Promise<CommittedPosition | undefined>
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
