/** What the benchmark driver (bench/run.ts) and its workload processes (bench/workloads/*.ts) exchange. */

/** The clickstream input: the same seed, users and start time give byte-identical events on every run. */
export const CLICKSTREAM = {
  seed: 1,
  users: 100_000,
  startTime: Date.parse('2026-01-01T00:00:00Z'),
  /** Malformed records, to exercise the dead-letter path (about 0.5 %; the parse step rejects them). */
  bad: 0.005,
  partitions: 4,
  compression: 'lz4',
} as const

export const WORKLOADS = [
  'ceiling',
  'ceiling-kafka',
  'etl',
  'etl-avro',
  'etl-workers',
  'lake',
  'join',
  'window',
  'window-pg',
  'sessions',
  'sessions-workers',
  'latency',
  'state',
  'sinks',
] as const
export type WorkloadName = (typeof WORKLOADS)[number]

/** Passed to a workload process as its one argument (JSON). */
export interface WorkloadConfig {
  readonly workload: WorkloadName
  readonly brokers: string
  /** The loaded clickstream topic and how many records it holds. */
  readonly inputTopic: string
  readonly inputRecords: number
  /** Key and value bytes of those records. */
  readonly inputBytes: number
  /** The `state` workload's topic of small records, one distinct key each. */
  readonly stateTopic?: string
  readonly stateRecords?: number
  readonly stateBytes?: number
  /** A prefix for the topics, groups and pipeline ids this workload creates (unique per run). */
  readonly runId: string
  /**
   * The broker JVM's pid when the benchmark started it: the scaling workloads measure its CPU over their
   * steady window, where it shares the machine's cores with the workers.
   */
  readonly brokerPid?: number
  /** A fresh, empty directory for the checkpoint. */
  readonly checkpointDir: string
  readonly maxBatchRecords: number
  /**
   * etl-avro: the same events as `inputTopic` in Avro (Confluent wire format), loaded by the driver, and the
   * schema registry (Apicurio) that holds their schema.
   */
  readonly avro?: {
    readonly topic: string
    readonly records: number
    readonly bytes: number
    readonly registryUrl: string
  }
  /** How the etl pipelines validate (default 'zod'). */
  readonly validator?: 'zod' | 'json-schema'
  /** RunOptions.lingerMs of the pipelines; the engine's default when absent. */
  readonly lingerMs?: number
  /** latency: events per second, how long to produce, how much of the start to leave out, trigger. */
  readonly rate?: number
  readonly durationMs?: number
  readonly warmupMs?: number
  readonly trigger?: LatencyTrigger
}

/** 'none': no pipeline, the verifier reads the input topic itself (the client's own latency floor). */
export type LatencyTrigger = 'none' | 'continuous' | 'processingTime:1s'

export function latencyName(trigger: LatencyTrigger): string {
  return trigger === 'none' ? 'latency-floor' : trigger === 'continuous' ? 'latency-continuous' : 'latency-1s'
}

/** Latency percentiles in milliseconds. */
export interface LatencyFigures {
  readonly trigger: string
  readonly rate: number
  /** Events produced during the measured part (after the warm-up). */
  readonly produced: number
  /** Of those, how many were seen in the output (the others were dead letters or never arrived). */
  readonly measured: number
  readonly achievedRate: number
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly p999: number
  readonly max: number
  readonly mean: number
  /** How the figures were computed: 'hdr-histogram-js' or 'sorted array'. */
  readonly method: string
}

/** Where a pipeline spent its batches' time, summed over all batches (milliseconds). */
export interface PhaseTimes {
  readonly poll: number
  readonly process: number
  readonly checkpoint: number
  readonly sink: number
  readonly total: number
}

/** What a workload process reports (one JSON line on stdout, prefixed by RESULT_PREFIX). */
export interface WorkloadResult {
  readonly workload: string
  /** Input records consumed and processed. */
  readonly events: number
  /** Value and key bytes of the input records. */
  readonly bytes: number
  readonly outputRows: number
  readonly deadLettered: number
  /** Measured time: from the start of the run until the last batch committed (or the last record read). */
  readonly seconds: number
  /** Part of `seconds` before the first batch started: connecting, joining the group, first fetch. */
  readonly startupSeconds: number
  readonly batches: number
  /** CPU time of the workload process over the measured time. */
  readonly cpuUserSeconds: number
  readonly cpuSystemSeconds: number
  /** CPU time of the whole workload process (and of the pipeline process it started), start-up included. */
  readonly processCpuSeconds?: number
  /** Peak resident set size of the workload process (process.resourceUsage().maxRSS). */
  readonly maxRssMB: number
  readonly heapUsedMBAtEnd: number
  readonly phases?: PhaseTimes
  /** latency: every batch as [input rows, poll, process, checkpoint, sink ms, ms since the previous batch ended]. */
  readonly batchLog?: readonly (readonly number[])[]
  readonly stateRows?: number
  /** The engine's own estimate of its state size (BatchProgress.stateBytes). */
  readonly stateMB?: number
  /** Highest RSS and heap seen right after a batch committed (peak RSS also covers the batches' insides). */
  readonly maxRssAtBatchEndMB?: number
  readonly maxHeapUsedAtBatchEndMB?: number
  /** state: RSS and heap after the last input batch and a full GC, every key still in state. */
  readonly liveRssMB?: number
  readonly liveHeapUsedMB?: number
  readonly liveHeapTotalMB?: number
  /** Memory outside the JS heap: Buffers and other C++ objects, and of those the ArrayBuffers. */
  readonly liveExternalMB?: number
  readonly liveArrayBuffersMB?: number
  readonly latency?: LatencyFigures
  readonly notes?: readonly string[]
}

export const RESULT_PREFIX = 'BENCH_RESULT '
