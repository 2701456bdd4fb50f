/**
 * The steady rate of a scaled-out run: a backlog run's wall time includes each process's start, the group's
 * join rounds (the second instance takes its partitions over from the first) and a tail where the instance
 * that joined last finishes alone. A pipeline that runs for hours pays those once, so the scaling workloads
 * also report the rate over the middle of the backlog: the group's committed offsets are sampled while the
 * instances run, and the window is from when 20 % of the input was committed to when 80 % was, with the
 * instances' CPU over the same window (from /proc, where there is one), and the broker's and the whole
 * machine's: on a machine whose cores the broker shares with the workers, they say where the cores went.
 */
import { readFile } from 'node:fs/promises'
import { KafkaAdmin } from '../../src/connectors/kafka/admin.ts'
import { machineBusySeconds } from './spawn.ts'

interface Sample {
  /** performance.now() in ms. */
  readonly at: number
  readonly committed: number
  /** CPU seconds of the sampled processes so far; undefined without /proc. */
  readonly cpuSeconds: number | undefined
  /** CPU seconds of the broker so far; undefined without /proc or a broker pid. */
  readonly brokerCpuSeconds: number | undefined
  /** Busy CPU seconds of the whole machine (all cores) since boot; undefined without /proc. */
  readonly machineBusySeconds: number | undefined
}

export interface SteadyWindow {
  readonly eventsPerSecond: number
  /** CPU seconds per million events over the window; undefined without /proc. */
  readonly cpuPerMillion: number | undefined
  /** The broker's CPU seconds per million events over the window; undefined without its pid. */
  readonly brokerCpuPerMillion: number | undefined
  /** The machine's busy cores over the window (2.0: two cores busy all the time); undefined without /proc. */
  readonly busyCores: number | undefined
  readonly seconds: number
}

const SAMPLE_MS = 200
// Linux's USER_HZ: /proc/<pid>/stat counts CPU time in these ticks on every architecture Node runs on.
const TICKS_PER_SECOND = 100

export class CommittedProgress {
  readonly #admin: KafkaAdmin
  readonly #groupId: string
  readonly #topic: string
  readonly #pids: () => readonly number[]
  readonly #brokerPid: number | undefined
  readonly #samples: Sample[] = []
  readonly #ticks = new Map<number, number>()
  #total = 0
  #timer: NodeJS.Timeout | undefined
  #sampling: Promise<void> = Promise.resolve()

  constructor(
    brokers: string,
    groupId: string,
    topic: string,
    pids: () => readonly number[],
    brokerPid?: number,
  ) {
    // The committed offsets as they are, without waiting for open transactions: a view, not a decision.
    this.#admin = new KafkaAdmin({ brokers }, { stableOffsets: false })
    this.#groupId = groupId
    this.#topic = topic
    this.#pids = pids
    this.#brokerPid = brokerPid
  }

  /** Reads the input's end (the backlog the fractions are of), then samples until stop(). */
  async start(): Promise<void> {
    for (const offset of (await this.#admin.offsets(this.#topic)).values()) this.#total += Number(offset)
    this.#timer = setInterval(() => {
      this.#sampling = this.#sampling.then(() => this.#sample()).catch(() => {})
    }, SAMPLE_MS)
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer)
    await this.#sampling
    await this.#admin.close()
  }

  /** The rate between the samples where `from` and `to` of the backlog were committed, interpolated. */
  window(from = 0.2, to = 0.8): SteadyWindow | undefined {
    const start = this.#crossing(this.#total * from)
    const end = this.#crossing(this.#total * to)
    if (!start || !end || end.at <= start.at) return undefined
    const seconds = (end.at - start.at) / 1000
    const events = end.committed - start.committed
    const spent = (of: (s: Sample) => number | undefined) => {
      const a = of(start)
      const b = of(end)
      return a === undefined || b === undefined ? undefined : b - a
    }
    const perMillion = (cpu: number | undefined) =>
      cpu === undefined ? undefined : Math.round((cpu / events) * 1e7) / 10
    const busy = spent((s) => s.machineBusySeconds)
    return {
      eventsPerSecond: Math.round(events / seconds),
      cpuPerMillion: perMillion(spent((s) => s.cpuSeconds)),
      brokerCpuPerMillion: perMillion(spent((s) => s.brokerCpuSeconds)),
      busyCores: busy === undefined ? undefined : Math.round((busy / seconds) * 100) / 100,
      seconds,
    }
  }

  /** The point where `committed` first reached `target`, interpolated between the two samples around it. */
  #crossing(target: number): Sample | undefined {
    const after = this.#samples.findIndex((s) => s.committed >= target)
    if (after <= 0) return undefined
    const a = this.#samples[after - 1]!
    const b = this.#samples[after]!
    const f = (target - a.committed) / (b.committed - a.committed)
    const between = (x: number | undefined, y: number | undefined) =>
      x === undefined || y === undefined ? undefined : x + f * (y - x)
    return {
      at: a.at + f * (b.at - a.at),
      committed: target,
      cpuSeconds: between(a.cpuSeconds, b.cpuSeconds),
      brokerCpuSeconds: between(a.brokerCpuSeconds, b.brokerCpuSeconds),
      machineBusySeconds: between(a.machineBusySeconds, b.machineBusySeconds),
    }
  }

  /** The processes' CPU so far; a process that ended counts with what it had used when last seen. */
  async #cpuSeconds(): Promise<number | undefined> {
    for (const pid of this.#pids()) {
      const ticks = await processCpuTicks(pid)
      if (ticks !== undefined) this.#ticks.set(pid, ticks)
      else if (!this.#ticks.has(pid)) return undefined
    }
    let total = 0
    for (const ticks of this.#ticks.values()) total += ticks
    return total / TICKS_PER_SECOND
  }

  async #sample(): Promise<void> {
    const [offsets, cpuSeconds, brokerTicks] = await Promise.all([
      this.#admin.committedOffsets(this.#groupId, this.#topic),
      this.#cpuSeconds(),
      this.#brokerPid === undefined ? undefined : processCpuTicks(this.#brokerPid),
    ])
    let committed = 0
    for (const offset of offsets.values()) if (offset > 0n) committed += Number(offset)
    this.#samples.push({
      at: performance.now(),
      committed,
      cpuSeconds,
      brokerCpuSeconds: brokerTicks === undefined ? undefined : brokerTicks / TICKS_PER_SECOND,
      machineBusySeconds: machineBusySeconds(),
    })
  }
}

/** User plus system CPU of the processes, from /proc/<pid>/stat; undefined where there is no /proc. */
async function processCpuTicks(pid: number): Promise<number | undefined> {
  let stat: string
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  // The command name (field 2) may hold spaces: fields are counted after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(fields[11]) + Number(fields[12]) // utime, stime (fields 14 and 15 of stat)
}
