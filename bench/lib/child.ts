/** Helpers for the workload processes: read the configuration, measure a run, report the result. */
import type { Pipeline } from '../../src/dsl/stream.ts'
import type { BatchProgress } from '../../src/runtime/progress.ts'
import { run } from '../../src/runtime/run.ts'
import { type PhaseTimes, RESULT_PREFIX, type WorkloadConfig, type WorkloadResult } from './config.ts'

export function readConfig(): WorkloadConfig {
  const raw = process.argv[2]
  if (!raw) throw new Error('usage: node bench/workloads/<name>.ts <config JSON> (started by bench/run.ts)')
  return JSON.parse(raw) as WorkloadConfig
}

/** Runs the workload's main function and prints its result as one line on stdout; exit code 1 on failure. */
export function runWorkload(main: (config: WorkloadConfig) => Promise<WorkloadResult>): void {
  let config: WorkloadConfig
  try {
    config = readConfig()
  } catch (error) {
    process.stderr.write(`${String(error)}\n`)
    process.exit(2)
  }
  main(config).then(
    (result) => {
      const own = process.cpuUsage()
      const full = { ...result, processCpuSeconds: result.processCpuSeconds ?? (own.user + own.system) / 1e6 }
      process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(full)}\n`)
      // Clients may keep sockets or timers alive for a while after close(): the result is out, leave now.
      process.exit(0)
    },
    (error: unknown) => {
      process.stderr.write(`workload ${config.workload} failed: ${describe(error)}\n`)
      process.exit(1)
    },
  )
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause =
      error.cause instanceof Error ? `\ncaused by: ${error.cause.stack ?? error.cause.message}` : ''
    return `${error.stack ?? error.message}${cause}`
  }
  return String(error)
}

export const mb = (bytes: number): number => Math.round((bytes / 1024 / 1024) * 10) / 10

/** Peak RSS of this process so far, in MiB. */
export function maxRssMB(): number {
  return Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10
}

/** Wall-clock and CPU time of this process from construction on. */
export class Stopwatch {
  readonly #start = performance.now()
  readonly #cpu = process.cpuUsage()

  /** Milliseconds since start. */
  elapsed(): number {
    return performance.now() - this.#start
  }

  get startedAt(): number {
    return this.#start
  }

  cpu(): { user: number; system: number } {
    const used = process.cpuUsage(this.#cpu)
    return { user: used.user / 1e6, system: used.system / 1e6 }
  }
}

/** Sums what every batch reported. */
export class ProgressLog {
  batches = 0
  inputRows = 0
  outputRows = 0
  deadLettered = 0
  stateRows = 0
  stateBytes = 0
  maxStateRows = 0
  maxRssAtBatchEnd = 0
  maxHeapUsedAtBatchEnd = 0
  readonly phases = { poll: 0, process: 0, checkpoint: 0, sink: 0, total: 0 }
  /** Per batch: input rows, poll, process, checkpoint, sink ms, and ms since the previous batch ended. */
  readonly batchLog: number[][] = []
  /** performance.now() when the first batch started and the last one finished. */
  firstBatchStart: number | undefined
  lastBatchEnd: number | undefined
  /** performance.now() of the last batch that had input rows. */
  lastInputBatchEnd: number | undefined

  readonly onProgress = (p: BatchProgress): void => {
    const now = performance.now()
    const d = p.durationMs
    this.batchLog.push([
      p.inputRows,
      d.poll,
      d.process,
      d.checkpoint,
      d.sink,
      Math.round(now - (this.lastBatchEnd ?? now)),
    ])
    this.firstBatchStart ??= now - p.durationMs.total
    this.lastBatchEnd = now
    if (p.inputRows > 0) this.lastInputBatchEnd = now
    this.batches++
    this.inputRows += p.inputRows
    this.outputRows += p.outputRows
    this.deadLettered += p.deadLetteredRows
    this.stateRows = p.stateRows
    if (p.stateBytes > 0) this.stateBytes = p.stateBytes
    this.maxStateRows = Math.max(this.maxStateRows, p.stateRows)
    const memory = process.memoryUsage()
    this.maxRssAtBatchEnd = Math.max(this.maxRssAtBatchEnd, memory.rss)
    this.maxHeapUsedAtBatchEnd = Math.max(this.maxHeapUsedAtBatchEnd, memory.heapUsed)
    this.phases.poll += p.durationMs.poll
    this.phases.process += p.durationMs.process
    this.phases.checkpoint += p.durationMs.checkpoint
    this.phases.sink += p.durationMs.sink
    this.phases.total += p.durationMs.total
  }

  phaseTimes(): PhaseTimes {
    const r = (ms: number) => Math.round(ms)
    return {
      poll: r(this.phases.poll),
      process: r(this.phases.process),
      checkpoint: r(this.phases.checkpoint),
      sink: r(this.phases.sink),
      total: r(this.phases.total),
    }
  }
}

/**
 * Runs a pipeline over the whole backlog (trigger availableNow) and measures it: the time from the call
 * until the last batch committed, the CPU time, peak RSS and the per-phase times of the batches.
 */
export async function measureBacklog<T>(
  workload: string,
  pipeline: Pipeline<T>,
  config: WorkloadConfig,
  input: { records: number; bytes: number },
  options: {
    onBatch?: (progress: BatchProgress, log: ProgressLog) => void
    /** Runs as this instance of a scaled-out pipeline (RunOptions.instance). */
    instance?: string
  } = {},
): Promise<WorkloadResult> {
  const log = new ProgressLog()
  const onBatch = options.onBatch
  const watch = new Stopwatch()
  const summary = await run(pipeline, {
    checkpoint: config.checkpointDir,
    trigger: { kind: 'availableNow' },
    maxBatchRecords: config.maxBatchRecords,
    ...(config.lingerMs !== undefined ? { lingerMs: config.lingerMs } : {}),
    ...(options.instance !== undefined ? { instance: options.instance } : {}),
    onProgress: onBatch
      ? (p) => {
          log.onProgress(p)
          onBatch(p, log)
        }
      : log.onProgress,
  })
  const end = log.lastBatchEnd ?? performance.now()
  const cpu = watch.cpu()
  const notes: string[] = []
  if (summary.inputRows !== input.records)
    notes.push(`processed ${summary.inputRows} records, expected ${input.records}`)
  if (summary.restarts > 0)
    notes.push(`the run restarted ${summary.restarts} time(s) after retryable failures`)
  return {
    workload,
    events: summary.inputRows,
    bytes: Math.round((input.bytes * summary.inputRows) / Math.max(1, input.records)),
    outputRows: summary.outputRows,
    deadLettered: summary.deadLetteredRows,
    seconds: (end - watch.startedAt) / 1000,
    startupSeconds: ((log.firstBatchStart ?? end) - watch.startedAt) / 1000,
    batches: summary.batches,
    cpuUserSeconds: cpu.user,
    cpuSystemSeconds: cpu.system,
    maxRssMB: maxRssMB(),
    heapUsedMBAtEnd: mb(process.memoryUsage().heapUsed),
    phases: log.phaseTimes(),
    stateRows: log.maxStateRows,
    stateMB: mb(log.stateBytes),
    maxRssAtBatchEndMB: mb(log.maxRssAtBatchEnd),
    maxHeapUsedAtBatchEndMB: mb(log.maxHeapUsedAtBatchEnd),
    ...(notes.length ? { notes } : {}),
  }
}
