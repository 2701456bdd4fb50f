import { type ChildProcess, fork } from 'node:child_process'
import { hostname } from 'node:os'
import { securityOverridden } from '../connectors/kafka/connection.ts'
import type { TasksReport } from '../contracts/group-view.ts'
import type { BatchProgress } from '../runtime/progress.ts'
import type { BatchRef, RunSummary } from '../runtime/run.ts'
import type { DeadLetter } from '../runtime/sink.ts'
import type { TapKey, TapRecord, Taps } from '../runtime/tap.ts'
import { sleep } from '../runtime/wait.ts'
import { WORKER_SECURITY_ENV } from './kafka-security-flags.ts'
import { TapRelay } from './tap-relay.ts'

/**
 * `sluice run --workers N`: N processes of the same pipelines, each one instance in the pipelines' consumer
 * groups (Kafka assigns them the partitions, so the same command on another machine joins the same groups).
 * The supervisor restarts a worker that dies (backoff 1 s doubling to 30 s, reset after a minute of life),
 * stops them all on Ctrl-C, and shows one status line and summary for all of them: workers report each batch
 * and their summary over the IPC channel.
 */

/** What a worker sends its supervisor. */
export type WorkerMessage =
  | { readonly kind: 'progress'; readonly progress: BatchProgress }
  | { readonly kind: 'summary'; readonly pipelineId: string; readonly summary: RunSummary }
  | { readonly kind: 'tasks'; readonly report: TasksReport }
  | {
      readonly kind: 'dead-letters'
      readonly batch: BatchRef
      /** The batch's newest dead letters, their raw values cut short: what the dashboard shows of them. */
      readonly records: readonly DeadLetter[]
      /** How many the batch dead-lettered per operator (records holds only the newest). */
      readonly byOperator: Readonly<Record<string, number>>
    }
  /** The worker listens for taps now (messages sent before it did would be lost): send it those open. */
  | { readonly kind: 'tap-ready' }
  /** A batch's sample of an operator the supervisor's dashboard taps. */
  | { readonly kind: 'tap-records'; readonly tap: TapKey; readonly records: readonly TapRecord[] }

/** What a supervisor sends a worker: the taps its dashboard's viewers open and close. */
export type SupervisorMessage =
  | { readonly kind: 'tap-open'; readonly tap: TapKey; readonly perSecond: number }
  | { readonly kind: 'tap-close'; readonly tap: TapKey }

/** Set in a worker's environment: the supervisor's pid (a worker reports over IPC instead of printing). */
export const WORKER_ENV = 'SLUICE_WORKER_OF'

/** Set in a worker's environment when its supervisor serves the dashboard: it reports tasks and dead letters too. */
export const WORKER_UI_ENV = 'SLUICE_WORKER_UI'

/** Whether this process is a worker whose supervisor serves the dashboard. */
export function supervisorShowsDashboard(): boolean {
  return isWorker() && process.env[WORKER_UI_ENV] === '1'
}

/** Whether this process is a worker of `sluice run --workers` (it reports to its supervisor over IPC). */
export function isWorker(): boolean {
  return process.env[WORKER_ENV] !== undefined && process.send !== undefined
}

/** In a worker: sends `message` to the supervisor. False when this process is not a worker. */
export function reportToSupervisor(message: WorkerMessage): boolean {
  if (!isWorker()) return false
  process.send?.(message)
  return true
}

/** In a worker whose run ended: closes the IPC channel, which would keep the process alive. */
export function leaveSupervisor(): void {
  if (isWorker()) process.disconnect?.()
}

/**
 * In a worker: aborts when the supervisor is gone (its IPC channel closed: it was killed), so that no worker
 * outlives it. Undefined when this process is not a worker.
 */
export function supervisorGone(): AbortSignal | undefined {
  if (!isWorker()) return undefined
  const gone = new AbortController()
  process.once('disconnect', () => gone.abort())
  return gone.signal
}

/** Worker i's name in the groups: unique per machine and stable across its restarts (static membership). */
export function workerName(index: number): string {
  return `${hostname()}-w${index}`
}

export interface SuperviseOptions {
  /** The worker's command line after the script: `run FILE …` with `--instance NAME` added per worker. */
  readonly args: (name: string) => string[]
  readonly workers: number
  /** Each worker's batches, as they report them (the status line, the dashboard). */
  readonly onProgress: (progress: BatchProgress) => void
  readonly signal: AbortSignal
  /** Bounded runs end when every worker ended; streaming ones only on the signal. */
  readonly bounded: boolean
  readonly log: (line: string) => void
  /** The workers' reports for the supervisor's dashboard (tasks, dead letters); unset: workers send none. */
  readonly onReport?: (message: Extract<WorkerMessage, { kind: 'tasks' | 'dead-letters' }>) => void
  /** The supervisor's dashboard's taps: each open one is opened in every worker, their samples merged into it. */
  readonly taps?: Taps
}

/** Exit code of a worker that failed on something restarting cannot fix (bad flags, a plan refused). */
const USAGE_EXIT = 2
const MAX_BACKOFF_MS = 30_000

/**
 * Runs the workers until the signal aborts (then stops them with SIGTERM and waits) or, for a bounded run,
 * until each ended on its own. Resolves with the summed summaries per pipeline; rejects when a worker fails
 * in a way a restart cannot fix.
 */
export async function supervise(options: SuperviseOptions): Promise<Map<string, RunSummary>> {
  const summaries = new Map<string, RunSummary>()
  const failure = new AbortController()
  let failed: Error | undefined
  const stop = AbortSignal.any([options.signal, failure.signal])
  const relay = options.taps ? new TapRelay(options.taps, options.workers) : undefined
  const runWorker = async (index: number): Promise<void> => {
    const name = workerName(index)
    let backoff = 1000
    while (!stop.aborted) {
      const started = Date.now()
      const { code, signal } = await runOne(
        options.args(name),
        stop,
        options.onReport !== undefined,
        (message, reply) => {
          if (message.kind === 'progress') options.onProgress(message.progress)
          else if (message.kind === 'summary')
            summaries.set(message.pipelineId, add(summaries.get(message.pipelineId), message.summary))
          else if (message.kind === 'tap-ready') relay?.attach(name, reply)
          else if (message.kind === 'tap-records') relay?.records(name, message.tap, message.records)
          else options.onReport?.(message)
        },
      )
      // Its replacement gets the open taps when it says it is ready for them.
      relay?.detach(name)
      if (stop.aborted) return
      if (code === 0 && options.bounded) return
      // A batch job must end: a worker that gave up fails it. So does an error no restart can fix.
      if (code === USAGE_EXIT || (options.bounded && code !== null && code !== 0)) {
        failed ??= new Error(`worker ${name} failed (exit ${code}); see its messages above`)
        failure.abort()
        return
      }
      if (Date.now() - started > 60_000) backoff = 1000
      options.log(
        `sluice: worker ${name} ended (${signal ?? `exit ${code}`}); restarting it in ${Math.round(backoff / 1000)} s`,
      )
      await sleep(backoff, stop)
      backoff = Math.min(MAX_BACKOFF_MS, backoff * 2)
    }
  }
  try {
    await Promise.all(Array.from({ length: options.workers }, (_, i) => runWorker(i)))
  } finally {
    relay?.close()
  }
  if (failed) throw failed
  return summaries
}

/** The supervisor's security flags for a worker, in its environment (argv would show the password to `ps`). */
function securityEnv(): Record<string, string> {
  const security = securityOverridden()
  return security ? { [WORKER_SECURITY_ENV]: JSON.stringify(security) } : {}
}

function runOne(
  args: string[],
  stop: AbortSignal,
  dashboard: boolean,
  onMessage: (message: WorkerMessage, reply: (message: SupervisorMessage) => void) => void,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const child: ChildProcess = fork(process.argv[1]!, args, {
    execArgv: process.execArgv,
    env: {
      ...process.env,
      [WORKER_ENV]: String(process.pid),
      ...(dashboard ? { [WORKER_UI_ENV]: '1' } : {}),
      ...securityEnv(),
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    // Dead letters carry their raw bytes: structured clone keeps them bytes (JSON would make arrays of numbers).
    serialization: 'advanced',
  })
  const onStop = () => child.kill('SIGTERM')
  stop.addEventListener('abort', onStop, { once: true })
  const reply = (message: SupervisorMessage) => {
    // A worker that is ending may have closed its channel: what it no longer reads needs no answer.
    if (child.connected) child.send(message, () => {})
  }
  child.on('message', (message) => onMessage(message as WorkerMessage, reply))
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      stop.removeEventListener('abort', onStop)
      resolve({ code, signal })
    })
  })
}

function add(a: RunSummary | undefined, b: RunSummary): RunSummary {
  if (!a) return b
  return {
    batches: a.batches + b.batches,
    inputRows: a.inputRows + b.inputRows,
    outputRows: a.outputRows + b.outputRows,
    deadLetteredRows: a.deadLetteredRows + b.deadLetteredRows,
    lateRows: a.lateRows + b.lateRows,
    duplicateRows: a.duplicateRows + b.duplicateRows,
    restarts: a.restarts + b.restarts,
  }
}
