/**
 * The steady rate of a scaled-out run: a backlog run's wall time includes each process's start, the group's
 * join rounds (the second instance takes its partitions over from the first) and a tail where the instance
 * that joined last finishes alone. A pipeline that runs for hours pays those once, so the scaling workloads
 * also report the rate over the middle of the backlog: the group's committed offsets are sampled while the
 * instances run, and the window is from when 20 % of the input was committed to when 80 % was, with the
 * instances' CPU over the same window (from /proc, where there is one).
 */
import { readFile } from 'node:fs/promises'
import { KafkaAdmin } from '../../src/connectors/kafka/admin.ts'

interface Sample {
  /** performance.now() in ms. */
  readonly at: number
  readonly committed: number
  /** CPU seconds of the sampled processes so far; undefined without /proc. */
  readonly cpuSeconds: number | undefined
}

export interface SteadyWindow {
  readonly eventsPerSecond: number
  /** CPU seconds per million events over the window; undefined without /proc. */
  readonly cpuPerMillion: number | undefined
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
  readonly #samples: Sample[] = []
  readonly #ticks = new Map<number, number>()
  #total = 0
  #timer: NodeJS.Timeout | undefined
  #sampling: Promise<void> = Promise.resolve()

  constructor(brokers: string, groupId: string, topic: string, pids: () => readonly number[]) {
    // The committed offsets as they are, without waiting for open transactions: a view, not a decision.
    this.#admin = new KafkaAdmin({ brokers }, { stableOffsets: false })
    this.#groupId = groupId
    this.#topic = topic
    this.#pids = pids
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
    const cpu =
      start.cpuSeconds === undefined || end.cpuSeconds === undefined
        ? undefined
        : end.cpuSeconds - start.cpuSeconds
    return {
      eventsPerSecond: Math.round(events / seconds),
      cpuPerMillion: cpu === undefined ? undefined : Math.round((cpu / events) * 1e7) / 10,
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
    return {
      at: a.at + f * (b.at - a.at),
      committed: target,
      cpuSeconds:
        a.cpuSeconds === undefined || b.cpuSeconds === undefined
          ? undefined
          : a.cpuSeconds + f * (b.cpuSeconds - a.cpuSeconds),
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
    const [offsets, cpuSeconds] = await Promise.all([
      this.#admin.committedOffsets(this.#groupId, this.#topic),
      this.#cpuSeconds(),
    ])
    let committed = 0
    for (const offset of offsets.values()) if (offset > 0n) committed += Number(offset)
    this.#samples.push({ at: performance.now(), committed, cpuSeconds })
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
