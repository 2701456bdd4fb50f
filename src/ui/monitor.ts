import { createServer } from 'node:http'
import type { Registry } from 'prom-client'
import type { Pipeline } from '../dsl/stream.ts'
import { PipelineMetrics } from '../metrics/pipeline-metrics.ts'
import type { Plan } from '../plan/nodes.ts'
import type { BatchProgress } from '../runtime/progress.ts'
import type { BatchRef, RunOptions } from '../runtime/run.ts'
import type { DeadLetter } from '../runtime/sink.ts'
import { DashboardState } from './dashboard-state.ts'
import { listenOnFreePort } from './listen.ts'
import { handleRequest } from './routes.ts'
import { EventHub } from './sse.ts'

export const DEFAULT_MONITOR_PORT = 4040

export interface MonitorOptions {
  /** Default 127.0.0.1: the dashboard has no login, so it is only reachable from this machine unless told. */
  readonly host?: string
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
}

/** The hooks `run()` calls, ready to spread into its options. */
export type MonitorHooks = Required<Pick<RunOptions, 'onProgress' | 'onDeadLetters' | 'onSinkError'>>

export interface Monitor {
  /** The dashboard, e.g. http://127.0.0.1:4040/; metrics at `${url}metrics`. */
  readonly url: string
  readonly port: number
  readonly registry: Registry
  /** `run(p, { ...monitor.hooks })`, or call the three yourself when composing with other handlers. */
  readonly hooks: MonitorHooks
  describe(pipeline: Pipeline<unknown> | Plan): void
  observe(progress: BatchProgress): void
  deadLetters(records: readonly DeadLetter[], batch: BatchRef): void
  sinkError(error: unknown, batch: BatchRef): void
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
  const dashboard = options.dashboard ?? true
  const server = createServer((request, response) =>
    handleRequest({ registry: metrics.registry, state, events, dashboard }, request, response),
  )
  const host = options.host ?? '127.0.0.1'
  const port = await listenOnFreePort(server, {
    host,
    port: options.port ?? DEFAULT_MONITOR_PORT,
    exact: options.port !== undefined,
  })

  const describe = (pipeline: Pipeline<unknown> | Plan) => {
    const plan = 'plan' in pipeline ? pipeline.plan : pipeline
    metrics.describe(plan)
    state.describe(plan, Date.now())
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
    onSinkError: (_error, batch) => {
      metrics.sinkError(batch.pipelineId)
      state.sinkError(batch.pipelineId, Date.now())
    },
  }

  const shownHost = host.includes(':') ? `[${host}]` : host
  return {
    url: `http://${shownHost}:${port}/`,
    port,
    registry: metrics.registry,
    hooks,
    describe,
    observe: hooks.onProgress,
    deadLetters: hooks.onDeadLetters,
    sinkError: hooks.onSinkError,
    async close() {
      clearInterval(timer)
      events.close()
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
    },
  }
}
