import type { GroupView, TasksReport } from '../contracts/group-view.ts'
import { nodeLabel } from '../metrics/plan-labels.ts'
import type { Plan, PlanNodeKind } from '../plan/nodes.ts'
import type { BatchProgress } from '../runtime/progress.ts'
import type { BatchRef } from '../runtime/run.ts'
import type { DeadLetter } from '../runtime/sink.ts'
import type { LagUnit } from '../runtime/source.ts'
import { redactSecrets } from './redact.ts'

/*
 * What the dashboard shows, as JSON for the page: kept here, in the process, so that a page opened late still
 * gets the last minutes of every chart. The page's code (static/app.js) reads exactly these shapes.
 */

export interface GraphNodeView {
  readonly id: string
  readonly kind: PlanNodeKind
  readonly label: string
}

/**
 * How a pipeline is doing: starting (no batch yet), running, catching up (more than CATCH_UP_S seconds of
 * input behind at its processing rate, or records older than that on commit), restarting (a failure that
 * retrying can fix, no batch since) or failed (its run ended with an error).
 */
export type HealthState = 'starting' | 'running' | 'catching up' | 'restarting' | 'failed'

export interface HealthView {
  readonly state: HealthState
  readonly restarts: number
  /** The latest error (a restart's cause, a sink's failure, the one that ended the run), credentials masked. */
  readonly lastError: { readonly at: string; readonly message: string } | null
}

/** One committed batch, for the table of the last few. */
export interface BatchView {
  readonly batchId: number
  readonly at: string
  readonly inputRows: number
  readonly outputRows: number
  readonly deadLetteredRows: number
  readonly inputRowsPerSecond: number
  readonly processedRowsPerSecond: number
  readonly durationMs: BatchProgress['durationMs']
  readonly p50Ms: number | null
  readonly replayed: boolean
}

export interface PipelineView {
  readonly id: string
  readonly health: HealthView
  /** The latest batches, newest first (at most `batches` of DashboardLimits). */
  readonly batches: readonly BatchView[]
  /** The plan's operators, source first; empty for a pipeline only known from its progress. */
  readonly graph: readonly GraphNodeView[]
  readonly sink: string
  readonly totals: {
    batches: number
    inputRows: number
    outputRows: number
    deadLettered: number
    late: number
    duplicates: number
    sinkErrors: number
  }
  /** Dead letters seen per operator id (from the dead-letter records, so since this process started). */
  readonly deadLettersByOperator: Record<string, number>
  readonly last: {
    readonly batchId: number
    readonly timestamp: string
    readonly watermark: string | null
    readonly inputRowsPerSecond: number
    readonly stateRows: number
    /** Still to read, all partitions, in `lagUnit`. */
    readonly lag: number | null
    readonly lagUnit: LagUnit
  } | null
  /**
   * The pipeline's consumer group as the broker last showed it (members, their partitions, the group's lag
   * per partition), with each member's own report of its tasks where one reached this process; null for a
   * source without a group.
   */
  readonly group: GroupView | null
}

/** One pipeline's figures at one tick; null where there is nothing to say (no batch lately, no lag known). */
export interface Point {
  /** Input and output rows per second over the last few seconds. */
  readonly input: number
  readonly output: number
  /** Rows per second of batch time (what it could take), of the latest batch in the last few seconds. */
  readonly processed: number | null
  /** End-to-end latency of the latest batch in the last few seconds, ms. */
  readonly p50: number | null
  readonly p99: number | null
  /** Records still to read, all partitions (sources that count records). */
  readonly lag: number | null
  /** Bytes still to read, all partitions (sources whose positions are bytes: files). */
  readonly lagBytes: number | null
  /** Wall clock minus watermark, seconds: negative when event times run ahead of this machine's clock. */
  readonly watermarkDelay: number | null
}

export interface Tick {
  /** Unix seconds. */
  readonly t: number
  readonly points: Readonly<Record<string, Point>>
}

export interface DeadLetterView {
  readonly at: string
  readonly pipeline: string
  readonly batchId: number
  readonly operator: string
  readonly reason: string
  /** partition@offset. */
  readonly source: string
  readonly key: string | null
  /** The start of the raw value as text (invalid UTF-8 shows as U+FFFD). */
  readonly preview: string
  readonly bytes: number
}

export interface Snapshot {
  readonly pipelines: readonly PipelineView[]
  readonly ticks: readonly Tick[]
  readonly deadLetters: readonly DeadLetterView[]
}

export interface DashboardLimits {
  /** Ticks kept for a page opened later. Default 300 (five minutes at one a second). */
  readonly ticks?: number
  /** Dead letters kept, newest first. Default 50. */
  readonly deadLetters?: number
  /** Batches kept per pipeline, newest first. Default 10. */
  readonly batches?: number
}

/** Task reports kept per pipeline (one per process that sent one): a bound, as processes restart. */
const MAX_TASK_REPORTS = 64

/** Input further behind than this (seconds of work at the processing rate, or record age) is catching up. */
export const CATCH_UP_S = 10

const RATE_WINDOW_MS = 5_000
const PREVIEW_CHARS = 240

interface Recent {
  readonly at: number
  readonly input: number
  readonly output: number
  readonly p50: number | null
  readonly p99: number | null
  readonly processed: number
}

interface Entry {
  view: {
    -readonly [K in keyof PipelineView]: PipelineView[K]
  }
  readonly firstSeen: number
  recent: Recent[]
  /** The latest group view as read, before the task reports are merged in. */
  group: GroupView | null
  /** Per process ("host/pid"), its latest report of its tasks. */
  readonly tasks: Map<string, TasksReport>
  /** Set by restarting(), cleared by the next batch. */
  restarting: boolean
  failed: boolean
}

export class DashboardState {
  readonly #pipelines = new Map<string, Entry>()
  readonly #ticks: Tick[] = []
  readonly #deadLetters: DeadLetterView[] = []
  readonly #maxTicks: number
  readonly #maxDeadLetters: number
  readonly #maxBatches: number

  constructor(limits: DashboardLimits = {}) {
    this.#maxTicks = limits.ticks ?? 300
    this.#maxDeadLetters = limits.deadLetters ?? 50
    this.#maxBatches = limits.batches ?? 10
  }

  /** Whether a pipeline has an operator of this id (what a tap may be opened on). */
  hasOperator(pipelineId: string, operatorId: string): boolean {
    return this.#pipelines.get(pipelineId)?.view.graph.some((node) => node.id === operatorId) ?? false
  }

  /** A failure the run will retry: restarting until its next batch. */
  restarting(pipelineId: string, error: unknown, now: number): void {
    const entry = this.#entry(pipelineId, now)
    entry.restarting = true
    entry.view.health = {
      ...entry.view.health,
      restarts: entry.view.health.restarts + 1,
      lastError: errorView(error, now),
    }
    this.#refreshHealth(entry, now)
  }

  /** The run ended with an error. */
  failed(pipelineId: string, error: unknown, now: number): void {
    const entry = this.#entry(pipelineId, now)
    entry.failed = true
    entry.view.health = { ...entry.view.health, lastError: errorView(error, now) }
    this.#refreshHealth(entry, now)
  }

  #refreshHealth(entry: Entry, now: number): void {
    const last = entry.view.batches[0]
    let state: HealthState = 'starting'
    if (entry.failed) state = 'failed'
    else if (entry.restarting) state = 'restarting'
    else if (last) {
      const lag = entry.view.last?.lagUnit === 'records' ? entry.view.last.lag : null
      // Old records with nothing left to read are the end of a backlog, not a pipeline behind.
      const behind =
        (lag !== null && lag > Math.max(1, last.processedRowsPerSecond) * CATCH_UP_S) ||
        (lag !== 0 && last.p50Ms !== null && last.p50Ms > CATCH_UP_S * 1000)
      state = behind && now - Date.parse(last.at) < 60_000 ? 'catching up' : 'running'
    }
    entry.view.health = { ...entry.view.health, state }
  }

  describe(plan: Plan, now: number): void {
    const entry = this.#entry(plan.pipelineId, now)
    // A user's name is news on the box; a derived id (`window`, `map-2`) repeats the kind, so it stays in the title.
    entry.view.graph = plan.nodes.map((node) => ({
      id: node.id,
      kind: node.kind,
      label: node.named
        ? [node.id, nodeLabel(node)].filter((part) => part !== '').join(' · ')
        : nodeLabel(node),
    }))
    const sink = plan.nodes.at(-1)
    if (sink) entry.view.sink = nodeLabel(sink)
  }

  observe(progress: BatchProgress, now: number): void {
    const entry = this.#entry(progress.pipelineId, now)
    const totals = entry.view.totals
    totals.batches++
    totals.inputRows += progress.inputRows
    totals.outputRows += progress.outputRows
    totals.deadLettered += progress.deadLetteredRows
    totals.late += progress.lateRows
    totals.duplicates += progress.duplicateRows
    entry.view.last = {
      batchId: progress.batchId,
      timestamp: progress.timestamp,
      watermark: progress.watermark,
      inputRowsPerSecond: progress.inputRowsPerSecond,
      stateRows: progress.stateRows,
      lag: progress.sourceLag ? sum(Object.values(progress.sourceLag)) : null,
      lagUnit: progress.sourceUnit,
    }
    entry.recent.push({
      at: now,
      input: progress.inputRows,
      output: progress.outputRows,
      p50: progress.latency?.p50Ms ?? null,
      p99: progress.latency?.p99Ms ?? null,
      processed: progress.processedRowsPerSecond,
    })
    entry.view.batches = [
      {
        batchId: progress.batchId,
        at: progress.timestamp,
        inputRows: progress.inputRows,
        outputRows: progress.outputRows,
        deadLetteredRows: progress.deadLetteredRows,
        inputRowsPerSecond: progress.inputRowsPerSecond,
        processedRowsPerSecond: progress.processedRowsPerSecond,
        durationMs: progress.durationMs,
        p50Ms: progress.latency?.p50Ms ?? null,
        replayed: progress.replayed,
      },
      ...entry.view.batches.slice(0, this.#maxBatches - 1),
    ]
    entry.restarting = false
    this.#refreshHealth(entry, now)
  }

  /** Records a committed batch's dead letters; returns their views, newest first, for the live page. */
  deadLetters(
    records: readonly DeadLetter[],
    batch: BatchRef,
    now: number,
    /** The batch's count per operator when `records` holds only its newest (a worker's report). */
    byOperator?: Readonly<Record<string, number>>,
  ): DeadLetterView[] {
    const entry = this.#entry(batch.pipelineId, now)
    const at = new Date(now).toISOString()
    const views: DeadLetterView[] = []
    const counts = entry.view.deadLettersByOperator
    if (byOperator)
      for (const [operator, n] of Object.entries(byOperator)) counts[operator] = (counts[operator] ?? 0) + n
    else for (const d of records) counts[d.operator] = (counts[d.operator] ?? 0) + 1
    // Only the newest can be shown: a batch of 50 000 bad records must not build 50 000 previews.
    for (const d of records.slice(-this.#maxDeadLetters).reverse()) {
      views.push({
        at,
        pipeline: batch.pipelineId,
        batchId: batch.batchId,
        operator: d.operator,
        reason: d.reason,
        source: `${d.partition}@${d.offset}`,
        key: d.key,
        ...preview(d.raw),
      })
    }
    this.#deadLetters.unshift(...views)
    this.#deadLetters.length = Math.min(this.#deadLetters.length, this.#maxDeadLetters)
    return views
  }

  sinkError(pipelineId: string, error: unknown, now: number): void {
    const entry = this.#entry(pipelineId, now)
    entry.view.totals.sinkErrors++
    entry.view.health = { ...entry.view.health, lastError: errorView(error, now) }
  }

  /** The pipeline's group as the broker shows it now. */
  group(pipelineId: string, view: GroupView, now: number): void {
    const entry = this.#entry(pipelineId, now)
    entry.group = view
    this.#mergeTasks(entry)
  }

  /** An instance's report of its own tasks (this process's, or a worker's through its supervisor). */
  tasks(report: TasksReport, now: number): void {
    const entry = this.#entry(report.pipelineId, now)
    const key = `${report.host}/${report.pid}`
    entry.tasks.delete(key)
    entry.tasks.set(key, report)
    for (const oldest of entry.tasks.keys()) {
      if (entry.tasks.size <= MAX_TASK_REPORTS) break
      entry.tasks.delete(oldest)
    }
    this.#mergeTasks(entry)
  }

  /** Each member gets the task states its own process reported, for the partitions it is assigned. */
  #mergeTasks(entry: Entry): void {
    const group = entry.group
    if (!group) return
    entry.view.group = {
      ...group,
      members: group.members.map((m) => {
        const report = m.pid === null ? undefined : entry.tasks.get(`${m.host}/${m.pid}`)
        if (!report) return m
        const tasks = Object.fromEntries(
          m.partitions.flatMap((p) => (report.tasks[p] ? [[p, report.tasks[p]] as const] : [])),
        )
        return { ...m, tasks }
      }),
    }
  }

  /** The figures of every pipeline now, kept as the newest tick. */
  tick(now: number): Tick {
    const points: Record<string, Point> = {}
    for (const [id, entry] of this.#pipelines) {
      entry.recent = entry.recent.filter((r) => now - r.at < RATE_WINDOW_MS)
      const seconds = Math.max(1, Math.min(RATE_WINDOW_MS, now - entry.firstSeen)) / 1000
      const latest = entry.recent.findLast((r) => r.p50 !== null)
      const newest = entry.recent.at(-1)
      this.#refreshHealth(entry, now)
      const watermark = entry.view.last?.watermark
      points[id] = {
        input: round(sum(entry.recent.map((r) => r.input)) / seconds),
        output: round(sum(entry.recent.map((r) => r.output)) / seconds),
        processed: newest ? round(newest.processed) : null,
        p50: latest?.p50 ?? null,
        p99: latest?.p99 ?? null,
        lag: entry.view.last?.lagUnit === 'records' ? (entry.view.last.lag ?? null) : null,
        lagBytes: entry.view.last?.lagUnit === 'bytes' ? (entry.view.last.lag ?? null) : null,
        watermarkDelay: watermark ? round((now - Date.parse(watermark)) / 1000) : null,
      }
    }
    const tick = { t: now / 1000, points }
    this.#ticks.push(tick)
    if (this.#ticks.length > this.#maxTicks) this.#ticks.splice(0, this.#ticks.length - this.#maxTicks)
    return tick
  }

  pipelines(): PipelineView[] {
    return [...this.#pipelines.values()].map((e) => structuredClone(e.view))
  }

  snapshot(): Snapshot {
    return { pipelines: this.pipelines(), ticks: [...this.#ticks], deadLetters: [...this.#deadLetters] }
  }

  #entry(id: string, now: number): Entry {
    let entry = this.#pipelines.get(id)
    if (!entry) {
      entry = {
        view: {
          id,
          health: { state: 'starting', restarts: 0, lastError: null },
          batches: [],
          graph: [],
          sink: 'sink',
          totals: {
            batches: 0,
            inputRows: 0,
            outputRows: 0,
            deadLettered: 0,
            late: 0,
            duplicates: 0,
            sinkErrors: 0,
          },
          deadLettersByOperator: {},
          last: null,
          group: null,
        },
        group: null,
        tasks: new Map(),
        firstSeen: now,
        recent: [],
        restarting: false,
        failed: false,
      }
      this.#pipelines.set(id, entry)
    }
    return entry
  }
}

function preview(raw: Buffer | string | null): { preview: string; bytes: number } {
  if (raw === null) return { preview: '', bytes: 0 }
  if (typeof raw === 'string') {
    const cut = raw.length > PREVIEW_CHARS
    return { preview: cut ? `${raw.slice(0, PREVIEW_CHARS)}…` : raw, bytes: Buffer.byteLength(raw) }
  }
  // Decoding only the start keeps a 10 MB record cheap; a character cut in two shows as U+FFFD.
  const text = raw.subarray(0, PREVIEW_CHARS * 4).toString()
  const cut = text.length > PREVIEW_CHARS || raw.length > PREVIEW_CHARS * 4
  return { preview: cut ? `${text.slice(0, PREVIEW_CHARS)}…` : text, bytes: raw.length }
}

function errorView(error: unknown, now: number): HealthView['lastError'] {
  const message = error instanceof Error ? error.message : String(error)
  return { at: new Date(now).toISOString(), message: redactSecrets(message).slice(0, 2000) }
}

function sum(values: readonly number[]): number {
  let total = 0
  for (const v of values) total += v
  return total
}

function round(value: number): number {
  return Math.round(value * 10) / 10
}
