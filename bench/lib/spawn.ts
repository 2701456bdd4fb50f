/** Runs a workload in its own Node process, bounded in time, and collects the result line it prints. */
import { type ChildProcess, spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
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
  /** CPU seconds all processes of the machine used while the child ran (Linux /proc/stat; kernel included). */
  readonly machineBusySeconds: number | undefined
  /**
   * CPU seconds used meanwhile by user processes that are neither this benchmark's nor the broker's
   * (someone else's tests…), from /proc/<pid>/stat; kernel threads are left out.
   */
  readonly otherCpuSeconds: number | undefined
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
  const machineBefore = machineBusySeconds()
  const others = new OtherCpuSampler(options.brokerPid)
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
      const machineAfter = machineBusySeconds()
      const otherCpuSeconds = others.stop()
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
        machineBusySeconds:
          machineBefore !== undefined && machineAfter !== undefined
            ? machineAfter - machineBefore
            : undefined,
        otherCpuSeconds,
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

/** Busy CPU time of the whole machine since boot (all cores; idle and iowait excluded), in seconds. */
export function machineBusySeconds(): number | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? ''
    const [, ...fields] = line.trim().split(/\s+/)
    const ticks = fields.map(Number)
    // user nice system idle iowait irq softirq steal …
    const busy = ticks.reduce((sum, t, i) => (i === 3 || i === 4 || i > 7 ? sum : sum + t), 0)
    return busy / CLOCK_TICKS
  } catch {
    return undefined
  }
}

const PF_KTHREAD = 0x00200000

/**
 * CPU time used by other user processes (neither this benchmark's nor the broker's; kernel threads left out)
 * while a workload runs. /proc is scanned at the start, every second and at the end, so processes that live
 * at least about a second are counted; a process only counts the CPU it used after it was first seen, or all
 * of it when it started meanwhile. (Children's CPU reaped by their parent, cutime, is not used: it would count
 * a test run's whole CPU the moment its shell reaps it.)
 */
class OtherCpuSampler {
  readonly #brokerPid: number | undefined
  /** "pid:starttime" → ticks when first seen (0 for processes started meanwhile) and when last seen. */
  readonly #seen = new Map<string, { base: number; last: number }>()
  readonly #timer: NodeJS.Timeout
  #first = true
  #failed = false

  constructor(brokerPid: number | undefined) {
    this.#brokerPid = brokerPid
    this.#scan()
    this.#first = false
    this.#timer = setInterval(() => this.#scan(), 1000)
    this.#timer.unref()
  }

  /** Seconds of CPU the other processes used since construction; undefined without /proc. */
  stop(): number | undefined {
    clearInterval(this.#timer)
    this.#scan()
    if (this.#failed) return undefined
    let ticks = 0
    for (const { base, last } of this.#seen.values()) ticks += last - base
    return ticks / CLOCK_TICKS
  }

  #scan(): void {
    let pids: number[]
    try {
      pids = readdirSync('/proc')
        .filter((name) => /^\d+$/.test(name))
        .map(Number)
    } catch {
      this.#failed = true
      return
    }
    const parent = new Map<number, number>()
    const found: { pid: number; key: string; ticks: number }[] = []
    for (const pid of pids) {
      let stat: string
      try {
        stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      } catch {
        continue // gone meanwhile
      }
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      parent.set(pid, Number(f[1]))
      if ((Number(f[6]) & PF_KTHREAD) !== 0) continue
      // utime and stime are fields 14 and 15; starttime is field 22.
      found.push({ pid, key: `${pid}:${f[19]}`, ticks: Number(f[11]) + Number(f[12]) })
    }
    const ancestors = new Set<number>()
    for (let at = process.ppid; at > 1; at = parent.get(at) ?? 0) ancestors.add(at)
    const ours = (pid: number): boolean => {
      for (let at: number | undefined = pid, depth = 0; at && at > 1 && depth < 64; depth++) {
        if (at === process.pid || at === this.#brokerPid) return true
        at = parent.get(at)
      }
      return false
    }
    for (const { pid, key, ticks } of found) {
      if (ancestors.has(pid) || ours(pid)) continue
      const entry = this.#seen.get(key)
      if (entry) entry.last = Math.max(entry.last, ticks)
      else this.#seen.set(key, { base: this.#first ? ticks : 0, last: ticks })
    }
  }
}

/** sysconf(_SC_CLK_TCK): 100 on every Linux Node runs on in practice. */
const CLOCK_TICKS = 100
