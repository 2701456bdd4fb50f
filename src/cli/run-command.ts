import { join } from 'node:path'
import { Command, InvalidArgumentError } from 'commander'
import { loadPipelines } from '../config/index.ts'
import { overrideBrokers } from '../connectors/kafka/connection.ts'
import type { Pipeline } from '../dsl/stream.ts'
import { UsageError } from '../errors.ts'
import { createLogger } from '../log.ts'
import { describePlan } from '../plan/describe.ts'
import { BOUNDED_RETRY_TIMEOUT_MS } from '../runtime/restarts.ts'
import { type RunSummary, run } from '../runtime/run.ts'
import { parseTrigger, type Trigger } from '../runtime/trigger.ts'
import { formatDuration } from '../window/duration.ts'
import { parseDuration } from './options.ts'
import { RunProgress } from './run-progress.ts'
import { interruptSignal } from './signals.ts'

interface RunFlags {
  trigger?: string
  checkpoint?: string
  availableNow?: boolean
  dryRun?: boolean
  brokers?: string
  retryTimeout?: number
}

/** A duration, or "forever" (Infinity). */
function retryTimeout(value: string): number {
  if (value.trim().toLowerCase() === 'forever') return Number.POSITIVE_INFINITY
  try {
    return parseDuration(value)
  } catch {
    throw new InvalidArgumentError(`expected a duration such as 30s or 10m, or "forever", got "${value}".`)
  }
}

export function runCommand(): Command {
  return new Command('run')
    .description('run a pipeline defined in a YAML file or a TypeScript module')
    .argument('<file>', 'a pipeline file (.yaml, .yml) or a module exporting pipelines (.ts, .js)')
    .option('--trigger <trigger>', 'continuous, once, availableNow, or an interval such as 1s (default 1s)')
    .option('--checkpoint <dir>', 'checkpoint directory (default data/checkpoints/<pipeline id>)')
    .option('--available-now', 'process what is there now, then stop (a batch job); shows a progress bar')
    .option('--dry-run', 'print the plan and start nothing')
    .option(
      '--brokers <list>',
      "Kafka brokers for every connector of the file (default: the file's brokers, then $KAFKA_BROKERS)",
    )
    .option(
      '--retry-timeout <time>',
      `how long to keep restarting after failures such as an unreachable broker before giving up (exit 1): a duration or "forever" (default ${formatDuration(BOUNDED_RETRY_TIMEOUT_MS)} for --available-now, --trigger once or a bounded source; forever otherwise)`,
      retryTimeout,
    )
    .action(async (file: string, flags: RunFlags) => {
      const trigger = resolveTrigger(flags)
      // Before the file loads: a module may create Kafka clients as it is imported.
      overrideBrokers(flags.brokers)
      try {
        const pipelines = await loadPipelines(
          file,
          flags.brokers === undefined ? {} : { brokers: flags.brokers },
        )
        if (flags.dryRun) {
          for (const p of pipelines) {
            process.stdout.write(`${describePlan(p.plan)}\n`)
            process.stdout.write(
              `  checkpoint ${checkpointDir(flags, p, pipelines.length)}  trigger ${describeTrigger(trigger)}\n`,
            )
          }
          return
        }
        await runAll(pipelines, trigger, flags)
      } finally {
        overrideBrokers(undefined)
      }
    })
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

/** --checkpoint names the folder of a single pipeline, or the parent of each one's folder. */
function checkpointDir(flags: RunFlags, pipeline: Pipeline<unknown>, count: number): string {
  const id = pipeline.plan.pipelineId
  if (flags.checkpoint === undefined) return join('data', 'checkpoints', id)
  return count === 1 ? flags.checkpoint : join(flags.checkpoint, id)
}

async function runAll(
  pipelines: readonly Pipeline<unknown>[],
  trigger: Trigger,
  flags: RunFlags,
): Promise<void> {
  const bounded = trigger.kind === 'availableNow' || trigger.kind === 'once'
  const tty = process.stderr.isTTY === true
  // The bar replaces the per-batch log lines on a terminal; warnings and errors still show.
  const quiet = bounded && tty && process.env.SLUICE_LOG_LEVEL === undefined
  const logger = createLogger({ name: 'sluice', ...(quiet ? { level: 'warn' } : {}) })
  const progress = new RunProgress({ out: process.stderr, tty, bar: bounded })
  const { signal, dispose } = interruptSignal()
  // One pipeline failing stops the others: the command then fails with its error.
  const failed = new AbortController()
  const stop = AbortSignal.any([signal, failed.signal])
  const summaries = new Map<string, RunSummary>()
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
            onProgress: (batch) => progress.update(batch),
            ...(flags.retryTimeout !== undefined ? { retryTimeoutMs: flags.retryTimeout } : {}),
          })
          summaries.set(p.plan.pipelineId, summary)
        } catch (error) {
          failed.abort()
          throw error
        }
      }),
    )
  } finally {
    dispose()
    progress.finish(summaries)
  }
}
