import type { BatchProgress } from '../runtime/progress.ts'
import type { RunSummary } from '../runtime/run.ts'
import type { LagUnit } from '../runtime/source.ts'

/**
 * What `sluice run` shows while pipelines run, on stderr. A bounded run (--available-now) gets a bar with
 * what was read, the total and an ETA, from how far each batch moved the source and the source's lag (what
 * is still to read, refreshed by the runtime and counted down between refreshes); a streaming run gets a
 * status line per pipeline with rates, lag and watermark. Both are in the source's unit: records (Kafka,
 * Parquet), or bytes for files (whose positions are byte offsets). On a terminal the bar is one line redrawn
 * in place; otherwise, and for a streaming run, one line per pipeline is printed every `intervalMs` (5 s, as
 * `sluice start` does), so logs and CI output stay readable. The figures of a pipeline are summed over the
 * processes that run it (`--workers`).
 */
export interface ProgressOptions {
  readonly out: { write(text: string): unknown }
  readonly tty: boolean
  readonly bar: boolean
  readonly intervalMs?: number
  readonly now?: () => number
}

interface PipelineState {
  readonly id: string
  readonly started: number
  records: number
  outputRows: number
  deadLettered: number
  batches: number
  watermark: string | null
  /** What the source's lag and `read` count. */
  unit: LagUnit
  /** How far the source was read, in `unit` (equal to `records` when that is records). */
  read: number
  /** The last lag report, and how much had been read when it came. */
  lagReport: Readonly<Record<string, number>> | undefined
  lagAtReport: number
  readAtReport: number
}

export class RunProgress {
  readonly #options: ProgressOptions
  readonly #now: () => number
  readonly #pipelines = new Map<string, PipelineState>()
  #lastPrint = 0
  #shown = false
  #timer: NodeJS.Timeout | undefined

  constructor(options: ProgressOptions) {
    this.#options = options
    this.#now = options.now ?? Date.now
  }

  /** Registers the pipelines before their first batch, so their clocks start with the run. */
  start(ids: readonly string[]): void {
    for (const id of ids) this.#pipelines.set(id, this.#state(id))
    const interval = this.#interval()
    // A pipeline with nothing to read reports no batches: its line still comes every interval.
    if (!this.#redraws() && interval > 0) {
      this.#timer = setInterval(() => this.#printIfDue(), interval)
      this.#timer.unref()
    }
  }

  update(p: BatchProgress): void {
    const s = this.#pipelines.get(p.pipelineId) ?? this.#state(p.pipelineId)
    this.#pipelines.set(p.pipelineId, s)
    s.records += p.inputRows
    s.unit = p.sourceUnit
    s.read += p.sourceRead
    s.outputRows += p.outputRows
    s.deadLettered += p.deadLetteredRows
    s.batches++
    s.watermark = p.watermark
    if (p.sourceLag && p.sourceLag !== s.lagReport) {
      s.lagReport = p.sourceLag
      s.lagAtReport = Object.values(p.sourceLag).reduce((a, b) => a + b, 0)
      s.readAtReport = s.read
    }
    const now = this.#now()
    if (this.#options.tty && this.#options.bar) {
      this.#options.out.write(`\r\x1b[K${this.lines().join('  |  ')}`)
      this.#shown = true
    } else if (now - this.#lastPrint >= (this.#options.intervalMs ?? 5_000)) {
      this.#lastPrint = now
      this.#options.out.write(
        this.lines()
          .map((line) => `${line}\n`)
          .join(''),
      )
    }
  }

  /** The current status of each pipeline, a line each. */
  lines(): string[] {
    return [...this.#pipelines.values()].map((s) => this.#describe(s))
  }

  /** Clears the live line and prints one summary line per pipeline. */
  finish(summaries: ReadonlyMap<string, RunSummary>): void {
    clearInterval(this.#timer)
    if (this.#shown) this.#options.out.write('\r\x1b[K')
    this.#shown = false
    for (const [id, summary] of summaries) {
      const s = this.#pipelines.get(id)
      const seconds = s ? (this.#now() - s.started) / 1000 : 0
      const rate = seconds > 0 ? ` (${compact(summary.inputRows / seconds)}/s)` : ''
      this.#options.out.write(
        `${id}: ${summary.inputRows} records in ${seconds.toFixed(1)} s${rate}, ${summary.outputRows} rows out, ${summary.deadLetteredRows} dead-lettered, ${summary.lateRows} late, ${summary.batches} batches${summary.restarts ? `, ${summary.restarts} restarts` : ''}\n`,
      )
    }
  }

  /** The bar of a bounded run on a terminal is one line, redrawn at each batch. */
  #redraws(): boolean {
    return this.#options.tty && this.#options.bar
  }

  #interval(): number {
    return this.#options.intervalMs ?? 5_000
  }

  #printIfDue(): void {
    const now = this.#now()
    if (now - this.#lastPrint < this.#interval()) return
    this.#lastPrint = now
    this.#options.out.write(
      this.lines()
        .map((line) => `${line}\n`)
        .join(''),
    )
  }

  #state(id: string): PipelineState {
    return {
      id,
      started: this.#now(),
      records: 0,
      outputRows: 0,
      deadLettered: 0,
      batches: 0,
      watermark: null,
      unit: 'records',
      read: 0,
      lagReport: undefined,
      lagAtReport: 0,
      readAtReport: 0,
    }
  }

  #describe(s: PipelineState): string {
    const seconds = Math.max(0.001, (this.#now() - s.started) / 1000)
    const rate = s.records / seconds
    const readRate = s.read / seconds
    const remaining =
      s.lagReport === undefined ? undefined : Math.max(0, s.lagAtReport - (s.read - s.readAtReport))
    const parts = [s.id]
    if (this.#options.bar && remaining !== undefined) {
      const total = s.read + remaining
      const done = total === 0 ? 1 : s.read / total
      parts.push(
        bar(done),
        `${Math.floor(done * 100)}%`,
        s.unit === 'bytes'
          ? `${bytes(s.read)}/${bytes(total)}`
          : `${s.read.toLocaleString('en-US')}/${total.toLocaleString('en-US')} records`,
        `${compact(rate)} records/s`,
        `ETA ${remaining === 0 ? '0:00' : readRate > 0 ? clock(remaining / readRate) : '?'}`,
      )
    } else {
      parts.push(`${s.records.toLocaleString('en-US')} records`, `${compact(rate)}/s`)
      if (remaining !== undefined) parts.push(`lag ${formatLag(remaining, s.unit)}`)
      if (s.watermark) parts.push(`watermark ${s.watermark.slice(11, 19)}`)
    }
    parts.push(`${s.outputRows} out`)
    if (s.deadLettered > 0) parts.push(`${s.deadLettered} dead-lettered`)
    return parts.join('  ')
  }
}

const WIDTH = 24

function bar(fraction: number): string {
  const full = Math.round(Math.min(1, Math.max(0, fraction)) * WIDTH)
  return `[${'#'.repeat(full)}${'-'.repeat(WIDTH - full)}]`
}

/** 41234 → "41.2k". */
function compact(n: number): string {
  if (n >= 1_000_000) return `${(n / 1_000_000).toFixed(1)}M`
  if (n >= 1_000) return `${(n / 1_000).toFixed(1)}k`
  return String(Math.round(n))
}

/** 1234567 → "1.2 MB" (decimal units, as file sizes are usually shown). */
export function bytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)} GB`
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`
  return `${Math.round(n)} B`
}

/** A lag in its unit: "1,234 records" or "1.2 MB". */
export function formatLag(n: number, unit: LagUnit): string {
  return unit === 'bytes' ? bytes(n) : `${n.toLocaleString('en-US')} records`
}

/** Seconds as m:ss, or h:mm:ss. */
function clock(seconds: number): string {
  const total = Math.ceil(seconds)
  const h = Math.floor(total / 3600)
  const m = Math.floor((total % 3600) / 60)
  const s = String(total % 60).padStart(2, '0')
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`
}
