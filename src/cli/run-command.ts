import { Command, InvalidArgumentError } from 'commander'
import { BOUNDED_RETRY_TIMEOUT_MS } from '../runtime/restarts.ts'
import { formatDuration } from '../window/duration.ts'
import { type DashboardFlags, withDashboardOptions } from './dashboard-flags.ts'
import { parseDuration } from './options.ts'

/** The flags of `sluice run`; the command runs in run-action.ts, loaded when it runs. */
export interface RunFlags extends DashboardFlags {
  /** Serve the dashboard and /metrics while the pipelines run. */
  ui?: boolean
  trigger?: string
  checkpoint?: string
  availableNow?: boolean
  dryRun?: boolean
  brokers?: string
  retryTimeout?: number
  workers?: number | 'auto'
  instance?: string
  logLevel?: LogLevel
  /** The program's --verbose (stack traces), which for run also means the info log lines. */
  verbose?: boolean
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

function logLevel(value: string): LogLevel {
  const level = LOG_LEVELS.find((l) => l === value.trim().toLowerCase())
  if (level === undefined)
    throw new InvalidArgumentError(`expected one of ${LOG_LEVELS.join(', ')}, got "${value}".`)
  return level
}

/** --workers: a count, or "auto" (one per core when every pipeline of the file can scale out). */
function workerCount(value: string): number | 'auto' {
  if (value.trim().toLowerCase() === 'auto') return 'auto'
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1 || n > 256)
    throw new InvalidArgumentError(`expected a number of processes (1-256) or "auto", got "${value}".`)
  return n
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
  return withDashboardOptions(
    new Command('run')
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
      .option(
        '--workers <n>',
        'run the pipelines in n processes (or "auto": one per core), each an instance in their consumer groups; for pipelines that can scale out (default 1)',
        workerCount,
      )
      .option(
        '--instance <name>',
        "this process's name among the instances of its pipelines (static group membership, checkpoint and transactional id); unique per instance, stable across its restarts",
      )
      .option(
        '--log-level <level>',
        `log lines to show besides the status lines: ${LOG_LEVELS.join(', ')} (default warn, or $SLUICE_LOG_LEVEL; --verbose: info)`,
        logLevel,
      )
      .option('--ui', 'serve the dashboard (with the live tap) and /metrics while the pipelines run'),
  ).action(async (file: string, _flags: RunFlags, command: Command) => {
    const { runFile } = await import('./run-action.ts')
    // optsWithGlobals: --verbose belongs to the program, given before or after "run".
    await runFile(file, command.optsWithGlobals<RunFlags>())
  })
}
