import { createServer, type IncomingMessage } from 'node:http'
import type { Registry } from 'prom-client'
import type { TasksReport } from '../contracts/group-view.ts'
import type { Pipeline } from '../dsl/stream.ts'
import { PipelineMetrics } from '../metrics/pipeline-metrics.ts'
import type { Plan } from '../plan/nodes.ts'
import type { BatchProgress } from '../runtime/progress.ts'
import type { BatchRef, RunOptions } from '../runtime/run.ts'
import type { DeadLetter } from '../runtime/sink.ts'
import { type TapLimits, Taps } from '../runtime/tap.ts'
import { type AccessDecision, accessGuard, generateToken, isLoopback } from './access.ts'
import { DashboardState } from './dashboard-state.ts'
import { GROUP_REFRESH_MS, watchGroup } from './group-watch.ts'
import { listenOnFreePort } from './listen.ts'
import { handleRequest } from './routes.ts'
import { EventHub } from './sse.ts'

export const DEFAULT_MONITOR_PORT = 4040

export interface MonitorOptions {
  /**
   * Default 127.0.0.1: only this machine can reach it. Any other address (0.0.0.0) needs a token, generated
   * unless `token` gives one (CLI: --ui-host).
   */
  readonly host?: string
  /**
   * Host names to answer besides the bound address (and localhost when bound to loopback): a request naming
   * any other host is refused, so that no web page reads the dashboard through DNS rebinding (--ui-allow-host).
   */
  readonly allowedHosts?: readonly string[]
  /** The token every request must carry (--ui-token, $SLUICE_UI_TOKEN); required off loopback. */
  readonly token?: string
  /**
   * A port the user chose: a busy one is a UsageError (0 takes any free port). Without it the monitor takes
   * 4040 or the next free port after it.
   */
  readonly port?: number
  /** Pipelines to draw as operator graphs; more can be added with describe(). */
  readonly pipelines?: readonly (Pipeline<unknown> | Plan)[]
  /** Serve the dashboard page and its event stream besides /metrics. Default true. */
  readonly dashboard?: boolean
  /** How often the charts get a point. Default 1000 ms. */
  readonly tickMs?: number
  /** Node.js process metrics on /metrics. Default true. */
  readonly processMetrics?: boolean
  /** Bounds of the live tap (records a second, records kept, characters each). */
  readonly tap?: TapLimits
  /**
   * The group view of each pipeline whose source reads through a consumer group (members, their partitions,
   * the group's lag per partition), refreshed every `refreshMs` (default 5 s) apart from the runs; false: none.
   */
  readonly group?: false | { readonly refreshMs?: number }
}

/** The hooks `run()` calls, ready to spread into its options. */
export type MonitorHooks = Required<
  Pick<RunOptions, 'onProgress' | 'onDeadLetters' | 'onSinkError' | 'taps' | 'onTasks'>
>

export interface Monitor {
  /** The dashboard, e.g. http://127.0.0.1:4040/; metrics at `${url}metrics`. */
  readonly url: string
  readonly port: number
  /** The token requests need (given or generated), when they need one: open `${url}?token=${token}`. */
  readonly token?: string
  readonly registry: Registry
  /** `run(p, { ...monitor.hooks })`, or call the three yourself when composing with other handlers. */
  readonly hooks: MonitorHooks
  describe(pipeline: Pipeline<unknown> | Plan): void
  observe(progress: BatchProgress): void
  /** A batch's dead letters; `byOperator` counts them when `records` holds only the newest (a worker's report). */
  deadLetters(
    records: readonly DeadLetter[],
    batch: BatchRef,
    byOperator?: Readonly<Record<string, number>>,
  ): void
  sinkError(error: unknown, batch: BatchRef): void
  /** A failure the run will retry (call it from run()'s onRestart): the pipeline shows as restarting. */
  restarting(pipelineId: string, error: unknown): void
  /** The pipeline's run ended with this error. */
  failed(pipelineId: string, error: unknown): void
  /** An instance's report of its own tasks (run()'s onTasks; a supervisor passes its workers' on). */
  tasks(report: TasksReport): void
  close(): Promise<void>
}

/**
 * Starts the process's monitoring endpoint: Prometheus metrics at /metrics and (by default) the live
 * dashboard at /, one node:http server for both. Feed it through `hooks` on each `run()`.
 *
 * ```ts
 * const monitor = await startMonitor({ pipelines: [pageMetrics] })
 * console.error(`dashboard: ${monitor.url}`)
 * await run(pageMetrics, { ...monitor.hooks, signal })
 * await monitor.close()
 * ```
 */
export async function startMonitor(options: MonitorOptions = {}): Promise<Monitor> {
  const metrics = new PipelineMetrics(
    options.processMetrics === undefined ? {} : { processMetrics: options.processMetrics },
  )
  const state = new DashboardState()
  const events = new EventHub()
  const taps = new Taps(options.tap)
  const dashboard = options.dashboard ?? true
  const host = options.host ?? '127.0.0.1'
  const token = options.token ?? (isLoopback(host) ? undefined : generateToken())
  // Nothing is answered before the port is known, which the Host check needs.
  let access: (request: IncomingMessage) => AccessDecision = () => ({
    allowed: false,
    status: 421,
    reason: 'starting',
  })
  const server = createServer((request, response) =>
    handleRequest({ registry: metrics.registry, state, events, taps, dashboard, access }, request, response),
  )
  const port = await listenOnFreePort(server, {
    host,
    port: options.port ?? DEFAULT_MONITOR_PORT,
    exact: options.port !== undefined,
  })
  access = accessGuard({
    host,
    port,
    ...(options.allowedHosts === undefined ? {} : { allowedHosts: options.allowedHosts }),
    ...(token === undefined ? {} : { token }),
  })

  const groups = new Map<string, { close(): Promise<void> }>()
  const watch = (plan: Plan) => {
    const source = plan.nodes[0]
    if (options.group === false || groups.has(plan.pipelineId) || source?.kind !== 'source') return
    const reader = source.source.groupView?.(plan.pipelineId)
    if (!reader) return
    const id = plan.pipelineId
    const refreshMs = options.group?.refreshMs ?? GROUP_REFRESH_MS
    groups.set(
      id,
      watchGroup(
        reader,
        (view) => {
          metrics.group(id, view)
          state.group(id, view, Date.now())
        },
        refreshMs,
      ),
    )
  }
  const describe = (pipeline: Pipeline<unknown> | Plan) => {
    const plan = 'plan' in pipeline ? pipeline.plan : pipeline
    metrics.describe(plan)
    state.describe(plan, Date.now())
    watch(plan)
  }
  for (const p of options.pipelines ?? []) describe(p)

  const timer = setInterval(() => {
    const tick = state.tick(Date.now())
    events.send('tick', { tick, pipelines: state.pipelines() })
  }, options.tickMs ?? 1000)
  timer.unref()

  const hooks: MonitorHooks = {
    onProgress: (progress) => {
      metrics.observe(progress)
      state.observe(progress, Date.now())
    },
    onDeadLetters: (records, batch) => {
      const views = state.deadLetters(records, batch, Date.now())
      events.send('dead-letters', views)
    },
    onSinkError: (error, batch) => {
      metrics.sinkError(batch.pipelineId)
      state.sinkError(batch.pipelineId, error, Date.now())
    },
    onTasks: (report) => state.tasks(report, Date.now()),
    taps,
  }

  const shownHost = host.includes(':') ? `[${host}]` : host
  return {
    url: `http://${shownHost}:${port}/`,
    port,
    ...(token === undefined ? {} : { token }),
    registry: metrics.registry,
    hooks,
    describe,
    observe: hooks.onProgress,
    deadLetters: (records, batch, byOperator) =>
      events.send('dead-letters', state.deadLetters(records, batch, Date.now(), byOperator)),
    sinkError: hooks.onSinkError,
    restarting: (pipelineId, error) => state.restarting(pipelineId, error, Date.now()),
    failed: (pipelineId, error) => state.failed(pipelineId, error, Date.now()),
    tasks: hooks.onTasks,
    async close() {
      clearInterval(timer)
      await Promise.all([...groups.values()].map((g) => g.close()))
      events.close()
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
    },
  }
}
