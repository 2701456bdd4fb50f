import type { TasksReport } from '../contracts/group-view.ts'
import type { Logger } from '../log.ts'
import type { BatchProgress } from './progress.ts'
import type { DeadLetter } from './sink.ts'
import type { Taps } from './tap.ts'
import type { Trigger } from './trigger.ts'

export interface Clock {
  now(): number
}

export const systemClock: Clock = { now: () => Date.now() }

export interface RunOptions {
  /** Checkpoint directory. Default: data/checkpoints/<pipeline id>. */
  readonly checkpoint?: string
  /** Default: a batch every second. */
  readonly trigger?: Trigger
  /**
   * Upper bound of records per batch (memory bound together with the client's fetch buffer). Default 20,000:
   * a batch's records outlive the young generation and are promoted, so the batch size sets how high the old
   * generation grows between full GCs (bench, 1M live window keys: peak RSS 506–517 MB at 20k, 595–679 MB
   * at 50k, the same CPU per event; window 10.9 vs 10.6 and sessions 16.2 vs 15.7 CPU s per 1M events).
   */
  readonly maxBatchRecords?: number
  /**
   * How long a batch waits for more records once the first arrived. Default by trigger (`defaultLingerMs`):
   * 2 ms continuous, 20 ms processingTime, 200 ms for bounded runs (availableNow, once).
   */
  readonly lingerMs?: number
  readonly signal?: AbortSignal
  readonly onProgress?: (progress: BatchProgress) => void
  /** A committed batch's dead letters (called only when there are some), e.g. for a dashboard. */
  readonly onDeadLetters?: (deadLetters: readonly DeadLetter[], batch: BatchRef) => void
  /** The sink failed to write or commit a batch; the error is then thrown (and retried when retryable). */
  readonly onSinkError?: (error: unknown, batch: BatchRef) => void
  readonly logger?: Logger
  readonly clock?: Clock
  /** Stop after this many batches (tests, benchmarks). */
  readonly maxBatches?: number
  /**
   * Decoded keyed-state entries each stateful operator keeps in memory between batches (default 100,000);
   * the rest stays in the checkpoint's state store on disk and is read when a record needs it.
   */
  readonly stateCacheEntries?: number
  /**
   * How often keyed state is committed to the checkpoint's store (default 1000 ms; 0: after every batch).
   * Between commits a key changed by many batches is written once; after a crash the batches since the last
   * commit, which the sink already has, are replayed without writing them to rebuild the state.
   */
  readonly stateCommitIntervalMs?: number
  /**
   * How long a run keeps restarting after failures that retrying can fix (a broker it cannot reach) before it
   * gives up and throws SLUICE_RETRY_TIMEOUT, counted from the first failure since the last committed batch.
   * Default: 2 minutes for a bounded run (availableNow, once, or a bounded source: a batch job must end),
   * for ever for a streaming one (a service waits for its broker). Every restart logs one warning with the
   * cause and the wait (or calls onRestart instead).
   */
  readonly retryTimeoutMs?: number
  /** Told of each restart after a failure instead of the warning it logs, e.g. to say it once for many pipelines. */
  readonly onRestart?: (
    error: unknown,
    restart: { readonly waitMs: number; readonly message: string },
  ) => void
  /**
   * This process's name among the instances of the pipeline (static group membership, and the Kafka sink's
   * transactional id when instances share the source's partitions). Each instance needs its own, stable
   * across its restarts; default: the source's own (kafka({ instanceId })), else the host name.
   */
  readonly instance?: string
  /**
   * Live taps (the dashboard's `monitor.hooks.taps`): while someone watches an operator, a sample of what it
   * emits goes to them; nothing is sampled, and no tap code runs per record, while nobody does.
   */
  readonly taps?: Taps
  /**
   * A scaled-out stateful run: told each task's state (restoring, running) whenever its tasks change, for the
   * dashboard's group view. Never awaited; what it throws is ignored.
   */
  readonly onTasks?: (report: TasksReport) => void
}

export interface BatchRef {
  readonly pipelineId: string
  readonly batchId: number
}
