import type { LagUnit } from './source.ts'

/** Published after every batch: what the operator's view (logs, metrics, dashboard) is built from. */
export interface BatchProgress {
  readonly pipelineId: string
  readonly batchId: number
  /** ISO time the batch finished. */
  readonly timestamp: string
  readonly inputRows: number
  /** Input rows per second of wall-clock time since the previous batch finished. */
  readonly inputRowsPerSecond: number
  /** Input rows per second of this batch's own duration. */
  readonly processedRowsPerSecond: number
  readonly outputRows: number
  readonly deadLetteredRows: number
  readonly lateRows: number
  readonly duplicateRows: number
  readonly durationMs: {
    readonly poll: number
    readonly process: number
    readonly checkpoint: number
    readonly sink: number
    readonly total: number
  }
  /** Watermark in force for the batch (ISO), null before the first event time and once the input ended. */
  readonly watermark: string | null
  /** The batch that closed every window because a bounded input ended (watermark +Infinity). */
  readonly endOfInput?: true
  /** Live keyed-state entries (in memory and in the state store). */
  readonly stateRows: number
  /** The state store's size on disk (state.db pages), refreshed every 10 batches; 0 without state. */
  readonly stateBytes: number
  /**
   * Still to read per partition, in `sourceUnit`, when the source can tell (refreshed every few seconds, or
   * after every batch for sources that know it in memory, such as files).
   */
  readonly sourceLag: Readonly<Record<string, number>> | undefined
  /** What sourceLag and sourceRead count: 'records', or 'bytes' (files). */
  readonly sourceUnit: LagUnit
  /** How far this batch moved the source along, in `sourceUnit` (its input rows when that is records). */
  readonly sourceRead: number
  /** True when the batch was replayed after a restart. */
  readonly replayed: boolean
  /** Source timestamp (Kafka: producer time) to this batch's commit, over its input records. */
  readonly latency: BatchLatency | null
}

/** End-to-end latency of one batch's input records, in ms. */
export interface BatchLatency {
  readonly count: number
  readonly sumMs: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly maxMs: number
  /**
   * Records per bucket of `LATENCY_BUCKETS_MS` (src/runtime/latency.ts): entry i counts latencies above bound
   * i-1 and up to bound i; the last entry counts those above every bound.
   */
  readonly buckets: readonly number[]
}
