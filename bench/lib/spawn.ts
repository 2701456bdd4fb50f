/** Runs a workload in its own Node process, bounded in time, and collects the result line it prints. */
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { RESULT_PREFIX, type WorkloadConfig, type WorkloadResult } from './config.ts'

export interface ChildOptions {
  /** Killed (SIGKILL) after this long and reported as timed out. */
  readonly timeoutMs: number
  readonly nodeArgs?: readonly string[]
  /** Prefix for the child's stderr lines when they are forwarded. */
  readonly label: string
  /** Forward the child's stderr as it comes (otherwise only its tail is kept, for error messages). */
  readonly verbose?: boolean
  /** A broker process whose CPU time to measure while the child runs (the local broker's pid). */
  readonly brokerPid?: number | undefined
}

export interface ChildOutcome {
  readonly result: WorkloadResult | undefined
  readonly exitCode: number | null
  readonly signal: NodeJS.Signals | null
  readonly timedOut: boolean
  readonly wallSeconds: number
  /** CPU seconds the broker used while the child ran, when its pid is known (Linux /proc). */
  readonly brokerCpuSeconds: number | undefined
  /** The last lines the child wrote to stderr. */
  readonly stderrTail: string
}

export interface ChildHandle {
  readonly process: ChildProcess
  readonly done: Promise<ChildOutcome>
  /** Asks the child to stop (SIGTERM): long-running workloads then report what they measured. */
  stop(): void
}

const running = new Set<ChildProcess>()

/** Kills every workload process still running (on SIGINT, on a failure of the driver). */
export function killAllChildren(): void {
  for (const child of running) child.kill('SIGKILL')
}

export function workloadScript(name: string): string {
  return fileURLToPath(new URL(`../workloads/${name}.ts`, import.meta.url))
}

export function startChild(script: string, config: WorkloadConfig, options: ChildOptions): ChildHandle {
  const started = performance.now()
  const brokerCpuBefore = processCpuSeconds(options.brokerPid)
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), script, JSON.stringify(config)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: process.env,
  })
  running.add(child)
  let stdout = ''
  let stderrTail = ''
  let partial = ''
  child.stdout?.setEncoding('utf8')
  child.stdout?.on('data', (chunk: string) => {
    stdout += chunk
  })
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (chunk: string) => {
    stderrTail = (stderrTail + chunk).slice(-8000)
    if (options.verbose) {
      const lines = (partial + chunk).split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines) process.stderr.write(`  [${options.label}] ${line}\n`)
    }
  })
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    child.kill('SIGKILL')
  }, options.timeoutMs)
  const done = new Promise<ChildOutcome>((resolve) => {
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer)
      running.delete(child)
      const brokerCpuAfter = processCpuSeconds(options.brokerPid)
      let result: WorkloadResult | undefined
      for (const line of stdout.split('\n')) {
        if (line.startsWith(RESULT_PREFIX))
          result = JSON.parse(line.slice(RESULT_PREFIX.length)) as WorkloadResult
      }
      resolve({
        result,
        exitCode,
        signal,
        timedOut,
        wallSeconds: (performance.now() - started) / 1000,
        brokerCpuSeconds:
          brokerCpuBefore !== undefined && brokerCpuAfter !== undefined
            ? brokerCpuAfter - brokerCpuBefore
            : undefined,
        stderrTail: stderrTail.trim().split('\n').slice(-15).join('\n'),
      })
    })
  })
  return { process: child, done, stop: () => child.kill('SIGTERM') }
}

/** utime + stime of a process from /proc (Linux), in seconds; undefined elsewhere or when it is gone. */
export function processCpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name may contain spaces: fields are counted after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const ticks = Number(fields[11]) + Number(fields[12])
    return ticks / CLOCK_TICKS
  } catch {
    return undefined
  }
}

/** sysconf(_SC_CLK_TCK): 100 on every Linux Node runs on in practice. */
const CLOCK_TICKS = 100
