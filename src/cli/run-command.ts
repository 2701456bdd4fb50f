import { join } from 'node:path'
import { Command } from 'commander'
import { loadPipelines } from '../config/index.ts'
import type { Pipeline } from '../dsl/stream.ts'
import { UsageError } from '../errors.ts'
import { createLogger } from '../log.ts'
import { describePlan } from '../plan/describe.ts'
import { type RunSummary, run } from '../runtime/run.ts'
import { parseTrigger, type Trigger } from '../runtime/trigger.ts'
import { RunProgress } from './run-progress.ts'
import { interruptSignal } from './signals.ts'

interface RunFlags {
  trigger?: string
  checkpoint?: string
  availableNow?: boolean
  dryRun?: boolean
  brokers?: string
}

export function runCommand(): Command {
  return new Command('run')
    .description('run a pipeline defined in a YAML file or a TypeScript module')
    .argument('<file>', 'a pipeline file (.yaml, .yml) or a module exporting pipelines (.ts, .js)')
    .option('--trigger <trigger>', 'continuous, once, availableNow, or an interval such as 1s (default 1s)')
    .option('--checkpoint <dir>', 'checkpoint directory (default data/checkpoints/<pipeline id>)')
    .option('--available-now', 'process what is there now, then stop (a batch job); shows a progress bar')
    .option('--dry-run', 'print the plan and start nothing')
    .option('--brokers <list>', "Kafka brokers (default: the file's brokers, then $KAFKA_BROKERS)")
    .action(async (file: string, flags: RunFlags) => {
      const trigger = resolveTrigger(flags)
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
