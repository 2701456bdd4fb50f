/**
 * The pipeline side of the latency workload (started by bench/workloads/latency.ts): the etl pipeline of (a)
 * on a live topic, with the continuous or the 1 s processing-time trigger, until SIGTERM. Reports its own CPU
 * time, peak RSS and batch phases.
 */
import { run } from '../../src/runtime/run.ts'
import { maxRssMB, mb, ProgressLog, runWorkload, Stopwatch } from '../lib/child.ts'
import { etlPipeline } from '../lib/pipelines.ts'

runWorkload(async (config) => {
  const stop = new AbortController()
  process.on('SIGTERM', () => stop.abort())
  const log = new ProgressLog()
  const watch = new Stopwatch()
  const summary = await run(
    etlPipeline(
      {
        id: config.runId,
        brokers: config.brokers,
        input: config.inputTopic,
        output: `${config.runId}-out`,
        deadLetters: `${config.runId}-dlq`,
      },
      config.validator,
    ),
    {
      checkpoint: config.checkpointDir,
      trigger:
        config.trigger === 'processingTime:1s'
          ? { kind: 'processingTime', intervalMs: 1000 }
          : { kind: 'continuous' },
      maxBatchRecords: config.maxBatchRecords,
      ...(config.lingerMs !== undefined ? { lingerMs: config.lingerMs } : {}),
      onProgress: log.onProgress,
      signal: stop.signal,
    },
  )
  const cpu = watch.cpu()
  return {
    workload: `latency-pipeline`,
    events: summary.inputRows,
    bytes: 0,
    outputRows: summary.outputRows,
    deadLettered: summary.deadLetteredRows,
    seconds: watch.elapsed() / 1000,
    startupSeconds: ((log.firstBatchStart ?? performance.now()) - watch.startedAt) / 1000,
    batches: summary.batches,
    cpuUserSeconds: cpu.user,
    cpuSystemSeconds: cpu.system,
    maxRssMB: maxRssMB(),
    heapUsedMBAtEnd: mb(process.memoryUsage().heapUsed),
    phases: log.phaseTimes(),
    batchLog: log.batchLog,
    ...(summary.restarts > 0 ? { notes: [`the run restarted ${summary.restarts} time(s)`] } : {}),
  }
})
