import { join } from 'node:path'
import { KafkaAdmin } from '../connectors/kafka/admin.ts'
import type { KafkaConnection } from '../connectors/kafka/connection.ts'
import type { KafkaSecurity } from '../connectors/kafka/security.ts'
import type { Pipeline } from '../dsl/stream.ts'
import { KafkaError, SluiceError, UsageError } from '../errors.ts'
import { startLocalKafka, stopLocalKafka } from '../local-kafka/cluster.ts'
import { type LocalKafkaSecurity, localClientSecurity } from '../local-kafka/security.ts'
import type { Logger } from '../log.ts'
import { ProduceFailedError, type ProduceSummary, produceClickstream } from '../producer/produce.ts'
import { registryEncoder } from '../producer/registry-encoding.ts'
import type { RegistryConnection } from '../registry/client.ts'
import type { RegistryFormat } from '../registry/schema-type.ts'
import type { BatchProgress } from '../runtime/progress.ts'
import { type RunOptions, type RunSummary, run } from '../runtime/run.ts'
import { type DemoOutputs, defaultOutputs, demoPipelines, TABLES } from './demo-pipelines.ts'
import { OutageNotice } from './outage-notice.ts'
import { duckdbQuery } from './query.ts'
import { lakeRows, warehouseRows } from './results.ts'
import { serveWarehouseQueries } from './warehouse-endpoint.ts'

export interface MainJobOptions {
  /** Where checkpoints and the local broker live. Default ./data. */
  readonly dataDir: string
  /** Use these brokers instead of starting a local one. */
  readonly brokers?: string
  /**
   * Start the local broker secured (SASL_SSL with SCRAM, its own CA and users; see `sluice kafka start --secure`)
   * and connect to it as its super user. A data dir whose broker was secured before stays secured without it.
   */
  readonly secure?: boolean
  /**
   * The events in Avro, Protobuf or JSON Schema in the Confluent wire format instead of JSON: the producer
   * registers the clickstream's schema under `<events topic>-value` and the pipelines decode through the
   * registry, then check each event as the JSON path does.
   */
  readonly format?: { readonly type: RegistryFormat; readonly registry: RegistryConnection }
  /** PostgreSQL warehouse instead of DuckDB in the data dir. */
  readonly databaseUrl?: string
  /** Prefix of topics and pipeline ids, to run several demos on one broker. */
  readonly namespace?: string
  /** The clean events' lake: Sluice's Parquet lake (default) or an Iceberg table. */
  readonly lakeFormat?: 'parquet' | 'iceberg'
  readonly port: number
  /** Clickstream events per second. */
  readonly rate: number
  /**
   * On a first run (the events topic is empty), the simulation starts this long before now and its past is
   * produced at once, so windows and alerts have history from the start. Default 5 minutes, or 60,000 events'
   * worth at rates above 200 events/s (a backlog the pipelines catch up with in seconds); 0 for none.
   */
  readonly historyMs?: number
  readonly durationMs?: number
  /**
   * How long the job rides out a broker it cannot reach (the producer's delivery timeout and the pipelines'
   * retry timeout) before it stops with a summary and the cause. Default 2 minutes.
   */
  readonly retryTimeoutMs?: number
  /** Lines for the person running the job: a broker unreachable and back, a broker taken over. */
  readonly onNotice?: (line: string) => void
  /**
   * What the producer simulates; by default a new seed each run, starting now, with 1 % malformed, 0.5 %
   * late and 0.5 % duplicate events. A fixed seed, start time and count (and no late events, whose fate
   * depends on batch timing) give the same rows on every run, e.g. to compare warehouses.
   */
  readonly input?: MainJobInput
  readonly signal: AbortSignal
  readonly logger: Logger
  /** Called with each pipeline's latest progress, for the status lines. */
  readonly onProgress?: (progress: BatchProgress) => void
  /** The dashboard and /metrics: told each pipeline's plan, and given each run's hooks. */
  readonly monitor?: {
    describe(pipeline: Pipeline<unknown>): void
    readonly hooks: Pick<RunOptions, 'onDeadLetters' | 'onSinkError' | 'taps' | 'onTasks'>
    restarting(pipelineId: string, error: unknown): void
    failed(pipelineId: string, error: unknown): void
  }
  readonly onReady?: (info: MainJobReady) => void
}

export interface MainJobReady {
  readonly brokers: string
  readonly localBroker: boolean
  readonly outputs: DemoOutputs
  /** The secured local broker's client properties file (as its super user), for the commands printed. */
  readonly kafkaConfig?: string
  /** With a registry format: the events' schema as registered. */
  readonly eventSchema?: { readonly id: number; readonly subject: string }
}

export interface MainJobInput {
  readonly seed?: number
  /** Simulated users; default a hundred per event per second, which keeps the simulated clock on the wall clock. */
  readonly users?: number
  /** Event time of the first simulated moment, ms since the epoch. */
  readonly startTime?: number
  /** Stop producing after this many events (the pipelines then drain what was produced). */
  readonly count?: number
  readonly bad?: number
  readonly late?: number
  readonly dupes?: number
}

export interface MainJobSummary {
  readonly produced: ProduceSummary
  /** Each pipeline that ended by stopping (one that failed is missing). */
  readonly pipelines: Readonly<Record<string, RunSummary>>
  /** Every pipeline of the job, in order. */
  readonly pipelineIds: readonly string[]
  readonly outputs: DemoOutputs
  /** Rows in the lake table of clean events (all runs); undefined when it could not be read. */
  readonly lakeRows: number | undefined
  /** Rows per warehouse table (all runs); empty when the warehouse could not be read. */
  readonly tables: Readonly<Record<string, number>>
}

/** The job stopped on a failure (`cause`), after stopping the rest: `summary` is what it did until then. */
export class MainJobFailedError extends SluiceError {
  readonly summary: MainJobSummary

  constructor(summary: MainJobSummary, cause: unknown) {
    super(
      cause instanceof SluiceError ? cause.code : 'SLUICE_MAIN_JOB',
      cause instanceof Error ? cause.message : String(cause),
      {
        domain: cause instanceof SluiceError ? cause.domain : 'internal',
        cause,
        exitCode: cause instanceof SluiceError ? cause.exitCode : 1,
      },
    )
    this.summary = summary
  }
}

const DEFAULT_RETRY_TIMEOUT_MS = 120_000

/**
 * The clickstream ETL `npm start` runs: a local broker (unless brokers are given), the producer at a
 * moderate rate, and the demo pipelines, each with its own checkpoint under the data dir. Stops on the
 * signal or after the duration; the producer stops first, then the pipelines drain what it produced.
 */
export async function runMainJob(options: MainJobOptions): Promise<MainJobSummary> {
  if (options.secure && options.brokers) {
    throw new UsageError(
      '--secure secures the local broker; a cluster given with --brokers takes its own settings (--kafka-config FILE, --security-protocol, …).',
    )
  }
  let brokers = options.brokers
  let ownedBroker: string | undefined
  let local: LocalKafkaSecurity | undefined
  if (!brokers) {
    const cluster = await startLocalKafka({
      port: options.port,
      dataDir: join(options.dataDir, 'kafka'),
      log: (line) => options.logger.info(line),
      own: true,
      ...(options.secure ? { secure: true } : {}),
    })
    brokers = cluster.bootstrap
    local = cluster.security
    if (cluster.started || cluster.takenOverFrom !== undefined) ownedBroker = cluster.dataDir
    if (cluster.takenOverFrom !== undefined) {
      options.onNotice?.(
        `Kafka in ${cluster.dataDir} was left running by a \`sluice start\` that ended without stopping it (pid ${cluster.takenOverFrom}): using it, and stopping it when this run ends.`,
      )
    }
  }
  try {
    return await runOn(
      { brokers, ...(local ? { security: localClientSecurity(local) } : {}) },
      options,
      local,
    )
  } finally {
    // A broker this run started (or took over from a killed run) stops with it; a standing one is left as it was.
    if (ownedBroker) await stopLocalKafka({ dataDir: ownedBroker })
  }
}

async function runOn(
  connection: { readonly brokers: string; readonly security?: KafkaSecurity },
  options: MainJobOptions,
  local: LocalKafkaSecurity | undefined,
): Promise<MainJobSummary> {
  const { brokers } = connection
  const outputs = defaultOutputs(options.dataDir, connection, {
    ...options,
    ...(options.format ? { registry: options.format.registry } : {}),
  })
  const admin = new KafkaAdmin(connection)
  let firstRun: boolean
  try {
    for (const topic of Object.values(outputs.topics))
      await admin.ensureTopic(topic, { create: true, partitions: 3 })
    firstRun = [...(await admin.offsets(outputs.topics.events)).values()].every((offset) => offset === 0n)
  } finally {
    await admin.close()
  }
  // Registered before anything runs, so that the pipelines find the subject and a refusal stops the job at once.
  const subject = `${outputs.topics.events}-value`
  const encoding = options.format
    ? await registryEncoder(options.format.type, options.format.registry, subject)
    : undefined
  options.onReady?.({
    brokers,
    ...(encoding ? { eventSchema: { id: encoding.id, subject } } : {}),
    localBroker: options.brokers === undefined,
    outputs,
    ...(local ? { kafkaConfig: local.clientPropertiesFile } : {}),
  })

  const stopProducing = new AbortController()
  const stopPipelines = new AbortController()
  const onStop = () => stopProducing.abort()
  options.signal.addEventListener('abort', onStop, { once: true })
  const timer = options.durationMs ? setTimeout(onStop, options.durationMs) : undefined

  // The shop was open before the demo started: a first run begins with its recent past (the first minutes of
  // a simulation are quiet, as sessions take a minute or two to reach the checkout), produced at once. A later
  // run does not: its past would be behind the watermarks the pipelines' checkpoints keep, so late.
  const retryTimeoutMs = options.retryTimeoutMs ?? DEFAULT_RETRY_TIMEOUT_MS
  const outage = new OutageNotice(
    brokers,
    retryTimeoutMs,
    options.onNotice ?? ((line) => options.logger.warn(line)),
  )
  const input = options.input ?? {}
  const now = input.startTime ?? Date.now()
  const historyMs = firstRun
    ? (options.historyMs ?? Math.min(DEFAULT_HISTORY_MS, Math.round((HISTORY_EVENTS / options.rate) * 1000)))
    : 0
  const producing = produceClickstream({
    seed: input.seed ?? now % 1_000_000,
    // A hundred users per event per second keeps the simulated clock on the wall clock (the watermark too).
    users: input.users ?? Math.max(1_000, options.rate * 100),
    startTime: now - historyMs,
    ...(historyMs > 0 ? { backfillUntil: now } : {}),
    rate: options.rate,
    bad: input.bad ?? 0.01,
    late: input.late ?? 0.005,
    dupes: input.dupes ?? 0.005,
    ...(input.count !== undefined ? { count: input.count } : {}),
    destination: { kind: 'kafka', ...connection, topic: outputs.topics.events, createTopic: true },
    ...(encoding ? { encode: encoding.encode } : {}),
    signal: stopProducing.signal,
    deliveryTimeoutMs: retryTimeoutMs,
    onOutage: (event) => (event.kind === 'retrying' ? outage.lost(event.error) : outage.back()),
  })
  const pipelines = demoPipelines(outputs)
  for (const p of pipelines) options.monitor?.describe(p)
  // DuckDB lets no other process open the warehouse while this one writes it: `sluice query` asks this one.
  const queries =
    outputs.warehouse.kind === 'duckdb'
      ? await serveWarehouseQueries(outputs.warehouse.path, duckdbQuery(outputs))
      : undefined
  // A pipeline that fails (e.g. refused by its consumer group: another plan runs under its id) stops the job.
  let failure: { error: unknown } | undefined
  const running = pipelines.map((p) => {
    const logger = options.logger.child({ pipeline: p.plan.pipelineId }, { level: 'warn' })
    return run(p, {
      checkpoint: join(options.dataDir, 'checkpoints', p.plan.pipelineId),
      trigger: { kind: 'processingTime', intervalMs: 1000 },
      signal: stopPipelines.signal,
      logger,
      retryTimeoutMs,
      // A broker gone is said once for the job, not once per pipeline and restart.
      onRestart: (error, restart) => {
        options.monitor?.restarting(p.plan.pipelineId, error)
        if (error instanceof KafkaError) outage.lost(error)
        else logger.warn(restart.message)
      },
      ...(options.monitor?.hooks.onDeadLetters ? { onDeadLetters: options.monitor.hooks.onDeadLetters } : {}),
      ...(options.monitor?.hooks.onSinkError ? { onSinkError: options.monitor.hooks.onSinkError } : {}),
      ...(options.monitor?.hooks.taps ? { taps: options.monitor.hooks.taps } : {}),
      ...(options.monitor?.hooks.onTasks ? { onTasks: options.monitor.hooks.onTasks } : {}),
      onProgress: (progress) => {
        outage.back()
        options.onProgress?.(progress)
      },
    }).catch((error: unknown) => {
      options.monitor?.failed(p.plan.pipelineId, error)
      failure ??= { error }
      stopProducing.abort()
      stopPipelines.abort()
      return undefined
    })
  })
  try {
    let produced: ProduceSummary
    try {
      produced = await producing
    } catch (error) {
      // Give up together: the pipelines stop, and the summary says what was delivered before.
      if (!(error instanceof ProduceFailedError)) throw error
      failure ??= { error }
      stopPipelines.abort()
      produced = error.summary
    }
    // Let the pipelines catch up with the last events before stopping them (not after Ctrl-C).
    if (!options.signal.aborted && !failure) {
      await drained(
        connection,
        outputs.topics.events,
        pipelines.map((p) => `sluice-${p.plan.pipelineId}`),
        DRAIN_TIMEOUT_MS,
        AbortSignal.any([options.signal, stopPipelines.signal]),
      )
    }
    stopPipelines.abort()
    const results = await Promise.all(running)
    await queries?.close()
    const summaries: Record<string, RunSummary> = {}
    for (const [i, p] of pipelines.entries()) {
      const result = results[i]
      if (result) summaries[p.plan.pipelineId] = result
    }
    const summary: MainJobSummary = {
      produced,
      pipelines: summaries,
      pipelineIds: pipelines.map((p) => p.plan.pipelineId),
      outputs,
      // After a failure the warehouse may be what failed: the summary is still printed without its counts.
      lakeRows: await lakeRows(outputs).catch((error: unknown) => {
        if (!failure) throw error
        return undefined
      }),
      tables: await warehouseRows(outputs.warehouse, Object.values(TABLES)).catch((error: unknown) => {
        if (!failure) throw error
        return {}
      }),
    }
    if (failure) {
      const cause = outage.active ? outage.gaveUp(failure.error) : failure.error
      throw new MainJobFailedError(summary, cause)
    }
    return summary
  } finally {
    if (timer) clearTimeout(timer)
    stopPipelines.abort()
    options.signal.removeEventListener('abort', onStop)
    await queries?.close()
  }
}

const DRAIN_TIMEOUT_MS = 30_000
const DEFAULT_HISTORY_MS = 5 * 60_000
const HISTORY_EVENTS = 60_000

/** Waits until every group has committed up to the end of the events topic, or the timeout. */
async function drained(
  connection: KafkaConnection,
  topic: string,
  groups: readonly string[],
  timeoutMs: number,
  signal: AbortSignal,
): Promise<void> {
  const admin = new KafkaAdmin(connection)
  const deadline = Date.now() + timeoutMs
  try {
    while (Date.now() < deadline && !signal.aborted) {
      let behind = 0
      for (const group of groups) {
        for (const partition of await admin.groupLag(group, topic)) behind += Number(partition.lag)
      }
      if (behind === 0) return
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
  } finally {
    await admin.close()
  }
}
