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
  /** Watermark in force for the batch (ISO), null before the first event time. */
  readonly watermark: string | null
  readonly stateRows: number
  readonly stateBytes: number
  /** Records still to read per partition, when the source can tell (refreshed every few seconds). */
  readonly sourceLag: Readonly<Record<string, number>> | undefined
  /** True when the batch was replayed after a restart. */
  readonly replayed: boolean
}
