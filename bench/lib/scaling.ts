/**
 * Scaling: a pipeline over the whole backlog with 1, then 2 instances (processes in one consumer group, as
 * `sluice run --workers 2` runs them), each run with its own pipeline id, group and output. The time is from
 * starting the processes until the last one finished; the CPU is all instances' together. The broker shares
 * the machine's cores with them: on 2 cores the ceiling is well below 2×. etl is stateless; sessions keeps
 * per-user session state, which scales out because the clickstream's record key is the user id (declared
 * with keyBy(…, { partitioned: true })).
 */
import { spawn } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import { SLUICE_NODE_FLAGS } from '../../src/cli/node-flags.ts'
import { RESULT_PREFIX, type WorkloadConfig, type WorkloadResult } from '../lib/config.ts'
import { CommittedProgress, type SteadyWindow } from './steady-rate.ts'

const INSTANCE = fileURLToPath(new URL('../workloads/scaled-instance.ts', import.meta.url))

/** What scales: etl-workers and sessions-workers. */
export type ScaledKind = 'etl' | 'sessions'

interface Scaled {
  readonly workers: number
  /** Over the middle of the backlog (20 % to 80 % committed): start-up and the tail left out. */
  readonly steady: SteadyWindow | undefined
  readonly events: number
  readonly seconds: number
  readonly cpuSeconds: number
  readonly results: WorkloadResult[]
}

async function measure(config: WorkloadConfig, kind: ScaledKind, workers: number): Promise<Scaled> {
  const pipelineId = `${config.runId}-${kind}-${workers}w`
  const pids: number[] = []
  const progress = new CommittedProgress(
    config.brokers,
    `sluice-${pipelineId}`,
    config.inputTopic,
    () => pids,
    config.brokerPid,
  )
  await progress.start()
  const started = performance.now()
  const results = await Promise.all(
    Array.from({ length: workers }, (_, i) =>
      instance(config, kind, pipelineId, `w${i}`, (pid) => pids.push(pid)),
    ),
  ).finally(() => progress.stop())
  const seconds = (performance.now() - started) / 1000
  return {
    workers,
    steady: progress.window(),
    events: results.reduce((n, r) => n + r.events, 0),
    seconds,
    cpuSeconds: results.reduce(
      (n, r) => n + (r.processCpuSeconds ?? r.cpuUserSeconds + r.cpuSystemSeconds),
      0,
    ),
    results,
  }
}

function instance(
  config: WorkloadConfig,
  kind: ScaledKind,
  pipelineId: string,
  name: string,
  started: (pid: number) => void,
): Promise<WorkloadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [...SLUICE_NODE_FLAGS, INSTANCE, JSON.stringify(config), kind, pipelineId, name],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    if (child.pid !== undefined) started(child.pid)
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d
    })
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr = (stderr + d).slice(-4000)
    })
    child.on('close', (code) => {
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT_PREFIX))
      if (code === 0 && line) resolve(JSON.parse(line.slice(RESULT_PREFIX.length)) as WorkloadResult)
      else reject(new Error(`instance ${name} of ${pipelineId} failed (exit ${code}): ${stderr}`))
    })
  })
}

const rate = (s: Scaled) => Math.round(s.events / s.seconds)
const cpuPerMillion = (s: Scaled) => Math.round((s.cpuSeconds / s.events) * 1e6 * 10) / 10
const steadyNote = (s: Scaled) =>
  s.steady
    ? `${s.steady.eventsPerSecond} events/s` +
      (s.steady.cpuPerMillion === undefined ? '' : `, ${s.steady.cpuPerMillion} CPU-s per 1M events`) +
      (s.steady.brokerCpuPerMillion === undefined ? '' : ` (broker ${s.steady.brokerCpuPerMillion})`) +
      (s.steady.busyCores === undefined
        ? ''
        : `, machine busy ${s.steady.busyCores} of ${availableParallelism()} cores`) +
      ` over ${s.steady.seconds.toFixed(1)} s`
    : 'not measured (the run was too short to sample)'

/** The workload: the pipeline with 1, then 2 workers; the result is the 2-worker run, the 1-worker one in notes. */
export async function scalingWorkload(config: WorkloadConfig, kind: ScaledKind): Promise<WorkloadResult> {
  const one = await measure(config, kind, 1)
  const two = await measure(config, kind, 2)
  const shares = two.results.map((r) => r.events).join(' + ')
  return {
    workload: `${kind}-workers`,
    events: two.events,
    bytes: config.inputBytes,
    outputRows: two.results.reduce((n, r) => n + r.outputRows, 0),
    deadLettered: two.results.reduce((n, r) => n + r.deadLettered, 0),
    seconds: two.seconds,
    startupSeconds: Math.max(...two.results.map((r) => r.startupSeconds)),
    batches: two.results.reduce((n, r) => n + r.batches, 0),
    cpuUserSeconds: two.results.reduce((n, r) => n + r.cpuUserSeconds, 0),
    cpuSystemSeconds: two.results.reduce((n, r) => n + r.cpuSystemSeconds, 0),
    processCpuSeconds: two.cpuSeconds,
    maxRssMB: Math.max(...two.results.map((r) => r.maxRssMB)),
    heapUsedMBAtEnd: Math.max(...two.results.map((r) => r.heapUsedMBAtEnd)),
    notes: [
      `1 worker: ${rate(one)} events/s, ${cpuPerMillion(one)} CPU-s per 1M events (${one.events} events in ${one.seconds.toFixed(1)} s)`,
      `2 workers: ${rate(two)} events/s, ${cpuPerMillion(two)} CPU-s per 1M events (${shares} events in ${two.seconds.toFixed(1)} s)`,
      `2 workers / 1 worker: ${(rate(two) / rate(one)).toFixed(2)}× (wall time from start to the last instance's end)`,
      `steady, 20 % to 80 % of the backlog committed: 1 worker ${steadyNote(one)}; 2 workers ${steadyNote(two)}`,
      ...(one.steady && two.steady
        ? [
            `steady 2 workers / 1 worker: ${(two.steady.eventsPerSecond / one.steady.eventsPerSecond).toFixed(2)}×`,
          ]
        : []),
    ],
  }
}
