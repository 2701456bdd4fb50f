import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { loadPipelines } from '../config/index.ts'
import { overrideBrokers } from '../connectors/kafka/connection.ts'
import type { TasksReport } from '../contracts/group-view.ts'
import type { Pipeline } from '../dsl/stream.ts'
import { SluiceError, UsageError } from '../errors.ts'
import { createLogger } from '../log.ts'
import { describePlan } from '../plan/describe.ts'
import { type RunSummary, run } from '../runtime/run.ts'
import { scaleOutBlockers } from '../runtime/scale-out.ts'
import type { DeadLetter } from '../runtime/sink.ts'
import { Taps } from '../runtime/tap.ts'
import { parseTrigger, type Trigger } from '../runtime/trigger.ts'
import { startDashboard } from './dashboard-start.ts'
import type { RunFlags } from './run-command.ts'
import { RunProgress } from './run-progress.ts'
import { interruptSignal } from './signals.ts'
import { answerSupervisorTaps } from './worker-taps.ts'
import {
  isWorker,
  leaveSupervisor,
  reportToSupervisor,
  supervise,
  supervisorGone,
  supervisorShowsDashboard,
  WORKER_ENV,
  workerName,
} from './workers.ts'

/** `sluice run FILE`: loads the pipelines, then prints the plan, runs them here, or supervises workers. */
export async function runFile(file: string, flags: RunFlags): Promise<void> {
  const trigger = resolveTrigger(flags)
  // Before the file loads: a module may create Kafka clients as it is imported.
  overrideBrokers(flags.brokers)
  try {
    const pipelines = await loadPipelines(file, flags.brokers === undefined ? {} : { brokers: flags.brokers })
    if (flags.dryRun) {
      for (const p of pipelines) {
        process.stdout.write(`${describePlan(p.plan)}\n`)
        process.stdout.write(
          `  checkpoint ${checkpointDir(flags, p, pipelines.length)}  trigger ${describeTrigger(trigger)}\n`,
        )
      }
      return
    }
    const workers = resolveWorkers(pipelines, flags)
    if (workers > 1) await runWorkers(file, pipelines, trigger, flags, workers)
    else await runAll(pipelines, trigger, flags)
  } finally {
    overrideBrokers(undefined)
  }
}

function resolveTrigger(flags: RunFlags): Trigger {
  const trigger = flags.trigger === undefined ? undefined : parseTrigger(flags.trigger)
  if (flags.availableNow) {
    if (trigger && trigger.kind !== 'availableNow')
      throw new UsageError(`--available-now and --trigger ${flags.trigger} contradict each other: give one.`)
    return { kind: 'availableNow' }
  }
  return trigger ?? { kind: 'processingTime', intervalMs: 1000 }
}

function describeTrigger(trigger: Trigger): string {
  return trigger.kind === 'processingTime' ? `every ${trigger.intervalMs} ms` : trigger.kind
}

/**
 * --checkpoint names the folder of a single pipeline, or the parent of each one's folder. An instance of a
 * scaled-out pipeline has its own beside the others ("<folder>@<instance>").
 */
function checkpointDir(flags: RunFlags, pipeline: Pipeline<unknown>, count: number): string {
  const id = pipeline.plan.pipelineId
  const dir =
    flags.checkpoint === undefined
      ? join('data', 'checkpoints', id)
      : count === 1
        ? flags.checkpoint
        : join(flags.checkpoint, id)
  return flags.instance === undefined ? dir : `${dir}@${flags.instance}`
}

/** How many processes: 1 for a worker itself, else --workers, refused for a pipeline that cannot scale out. */
function resolveWorkers(pipelines: readonly Pipeline<unknown>[], flags: RunFlags): number {
  if (process.env[WORKER_ENV] !== undefined || flags.workers === undefined || flags.workers === 1) return 1
  const blocked = pipelines
    .map((p) => ({ id: p.plan.pipelineId, blockers: scaleOutBlockers(p.plan) }))
    .filter((p) => p.blockers.length > 0)
  const reasons = blocked.map((p) => `pipeline "${p.id}" runs as one instance: ${p.blockers.join('; ')}`)
  if (flags.workers === 'auto') {
    if (blocked.length === 0) return availableParallelism()
    process.stderr.write(`sluice: --workers auto runs one process: ${reasons.join('. ')}.\n`)
    return 1
  }
  if (blocked.length > 0)
    throw new UsageError(`--workers ${flags.workers}: ${reasons.join('. ')}. Run it without --workers.`)
  if (flags.instance !== undefined)
    throw new UsageError('--instance names one process: with --workers each worker is named for you.')
  return flags.workers
}

async function runWorkers(
  file: string,
  pipelines: readonly Pipeline<unknown>[],
  trigger: Trigger,
  flags: RunFlags,
  workers: number,
): Promise<void> {
  const bounded = trigger.kind === 'availableNow' || trigger.kind === 'once'
  const progress = new RunProgress({ out: process.stderr, tty: process.stderr.isTTY === true, bar: bounded })
  // One page for the whole group: the supervisor serves it, fed by its workers' reports.
  const dashboard = flags.ui ? await startDashboard(flags) : undefined
  const monitor = dashboard?.monitor
  if (dashboard) process.stderr.write(`${dashboard.line}\n`)
  for (const p of pipelines) monitor?.describe(p)
  const { signal, dispose } = interruptSignal()
  progress.start(pipelines.map((p) => p.plan.pipelineId))
  process.stderr.write(`sluice: ${workers} workers (${workerName(0)} … ${workerName(workers - 1)})\n`)
  let summaries = new Map<string, RunSummary>()
  try {
    summaries = await supervise({
      workers,
      bounded,
      onProgress: (batch) => {
        monitor?.observe(batch)
        progress.update(batch)
      },
      signal,
      log: (line) => process.stderr.write(`${line}\n`),
      args: (name) => ['run', file, ...workerArgs(flags), '--instance', name],
      ...(monitor
        ? {
            taps: monitor.hooks.taps,
            onReport: (message) => {
              if (message.kind === 'tasks') monitor.tasks(message.report)
              else monitor.deadLetters(message.records.map(withBytes), message.batch, message.byOperator)
            },
          }
        : {}),
    })
  } finally {
    dispose()
    progress.finish(summaries)
    await monitor?.close()
  }
}

/** A dead letter's raw value as it crossed the IPC channel (structured clone makes a Buffer a Uint8Array). */
function withBytes(d: DeadLetter): DeadLetter {
  const raw: unknown = d.raw
  return raw instanceof Uint8Array && !Buffer.isBuffer(raw)
    ? { ...d, raw: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength) }
    : d
}

/** Dead letters a worker sends its supervisor's dashboard per batch: as many as the page lists. */
const REPORTED_DEAD_LETTERS = 50
/** Enough of a raw value for the page's preview (240 characters of up to 4 bytes). */
const REPORTED_RAW_BYTES = 1024

/** What a worker tells its supervisor's dashboard of a batch's dead letters: the newest, raw values cut short. */
function deadLetterReport(deadLetters: readonly DeadLetter[]): {
  records: DeadLetter[]
  byOperator: Record<string, number>
} {
  const byOperator: Record<string, number> = {}
  for (const d of deadLetters) byOperator[d.operator] = (byOperator[d.operator] ?? 0) + 1
  const records = deadLetters.slice(-REPORTED_DEAD_LETTERS).map((d) => {
    if (d.raw === null || d.raw.length <= REPORTED_RAW_BYTES) return d
    return {
      ...d,
      raw:
        typeof d.raw === 'string'
          ? d.raw.slice(0, REPORTED_RAW_BYTES)
          : d.raw.subarray(0, REPORTED_RAW_BYTES),
    }
  })
  return { records, byOperator }
}

/**
 * The status lines and the summary say how a run goes; the per-batch log lines (~50 lines a batch on a
 * terminal) are for --log-level info or --verbose. Warnings (a restart) and errors show by default.
 */
function logLevel(flags: RunFlags): string {
  return flags.logLevel ?? (flags.verbose ? 'info' : (process.env.SLUICE_LOG_LEVEL ?? 'warn'))
}

/** A worker's flags: the supervisor's, but one process. */
function workerArgs(flags: RunFlags): string[] {
  const args: string[] = ['--log-level', logLevel(flags)]
  if (flags.trigger !== undefined) args.push('--trigger', flags.trigger)
  if (flags.availableNow) args.push('--available-now')
  if (flags.checkpoint !== undefined) args.push('--checkpoint', flags.checkpoint)
  if (flags.brokers !== undefined) args.push('--brokers', flags.brokers)
  if (flags.retryTimeout !== undefined)
    args.push('--retry-timeout', Number.isFinite(flags.retryTimeout) ? `${flags.retryTimeout}ms` : 'forever')
  return args
}

async function runAll(
  pipelines: readonly Pipeline<unknown>[],
  trigger: Trigger,
  flags: RunFlags,
): Promise<void> {
  const bounded = trigger.kind === 'availableNow' || trigger.kind === 'once'
  const tty = process.stderr.isTTY === true
  const logger = createLogger({ name: 'sluice', level: logLevel(flags) })
  // A worker's progress is shown by its supervisor, with the other workers'.
  const out = isWorker() ? { write: () => true } : process.stderr
  const progress = new RunProgress({ out, tty, bar: bounded })
  const { signal, dispose } = interruptSignal()
  // One pipeline failing stops the others: the command then fails with its error.
  const failed = new AbortController()
  const orphaned = supervisorGone()
  const stop = AbortSignal.any([signal, failed.signal, ...(orphaned ? [orphaned] : [])])
  const summaries = new Map<string, RunSummary>()
  const firstDeadLetters = new Map<string, DeadLetter>()
  // Before anything runs: a busy --ui-port is an error that starts nothing.
  const dashboard = flags.ui ? await startDashboard(flags) : undefined
  const monitor = dashboard?.monitor
  if (dashboard) process.stderr.write(`${dashboard.line}\n`)
  for (const p of pipelines) monitor?.describe(p)
  const dashboardOfSupervisor = supervisorShowsDashboard()
  // A worker's operators are tapped for its supervisor's dashboard, through the same taps a dashboard of its own uses.
  const taps = monitor?.hooks.taps ?? (dashboardOfSupervisor ? new Taps() : undefined)
  const stopTaps = dashboardOfSupervisor && taps ? answerSupervisorTaps(taps, logger) : undefined
  progress.start(pipelines.map((p) => p.plan.pipelineId))
  try {
    await Promise.all(
      pipelines.map(async (p) => {
        try {
          const summary = await run(p, {
            checkpoint: checkpointDir(flags, p, pipelines.length),
            trigger,
            signal: stop,
            logger: logger.child({ pipeline: p.plan.pipelineId }),
            onDeadLetters: (deadLetters, batch) => {
              monitor?.deadLetters(deadLetters, batch)
              if (dashboardOfSupervisor)
                reportToSupervisor({ kind: 'dead-letters', batch, ...deadLetterReport(deadLetters) })
              const first = deadLetters[0]
              if (first && !firstDeadLetters.has(batch.pipelineId))
                firstDeadLetters.set(batch.pipelineId, first)
            },
            onProgress: (batch) => {
              monitor?.observe(batch)
              if (!reportToSupervisor({ kind: 'progress', progress: batch })) progress.update(batch)
            },
            ...(monitor || dashboardOfSupervisor
              ? {
                  onTasks: (report: TasksReport) => {
                    monitor?.tasks(report)
                    if (dashboardOfSupervisor) reportToSupervisor({ kind: 'tasks', report })
                  },
                }
              : {}),
            ...(taps ? { taps } : {}),
            ...(monitor
              ? {
                  onSinkError: monitor.sinkError,
                  // The restart's warning is still logged, as without the dashboard.
                  onRestart: (error: unknown, restart: { readonly message: string }) => {
                    monitor.restarting(p.plan.pipelineId, error)
                    logger.child({ pipeline: p.plan.pipelineId }).warn(restart.message)
                  },
                }
              : {}),
            ...(flags.retryTimeout !== undefined ? { retryTimeoutMs: flags.retryTimeout } : {}),
            ...(flags.instance !== undefined ? { instance: flags.instance } : {}),
          })
          summaries.set(p.plan.pipelineId, summary)
          reportToSupervisor({ kind: 'summary', pipelineId: p.plan.pipelineId, summary })
        } catch (error) {
          monitor?.failed(p.plan.pipelineId, error)
          failed.abort()
          throw error
        }
      }),
    )
    // A run that ended by itself (not Ctrl-C) and refused everything did nothing its scheduler should call a success.
    if (!signal.aborted) throwIfAllDeadLettered(summaries, firstDeadLetters)
  } finally {
    dispose()
    stopTaps?.()
    progress.finish(summaries)
    leaveSupervisor()
    await monitor?.close()
  }
}

/**
 * A bounded run whose every input record was dead-lettered (a typo in an expression the schema could not
 * catch, the wrong topic, a schema that does not fit) fails with exit 1 and the first record's reason, instead
 * of exiting 0 over an empty output.
 */
function throwIfAllDeadLettered(
  summaries: ReadonlyMap<string, RunSummary>,
  firstDeadLetters: ReadonlyMap<string, DeadLetter>,
): void {
  const failed = [...summaries].filter(
    ([, s]) => s.inputRows > 0 && s.outputRows === 0 && s.deadLetteredRows >= s.inputRows,
  )
  if (failed.length === 0) return
  const lines = failed.map(([id, s]) => {
    const first = firstDeadLetters.get(id)
    const reason = first ? `; the first, at ${first.operator}: ${first.reason}` : ''
    return `pipeline ${id} dead-lettered every one of its ${s.inputRows} input records${reason}`
  })
  throw new SluiceError('SLUICE_ALL_DEAD_LETTERED', lines.join('\n'), { domain: 'user', exitCode: 1 })
}
