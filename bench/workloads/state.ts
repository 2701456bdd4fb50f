/**
 * 1M live window keys: a topic of small records, each with its own key, into a day-long tumbling window the
 * watermark never closes. What counts here is the peak RSS with every key in state.
 *
 * Started with --expose-gc: once the last input batch has committed, one full GC, then RSS and heap are read
 * with every key still in state (the live figure, without the garbage of the batches).
 */
import { mb, measureBacklog, runWorkload } from '../lib/child.ts'
import { statePipeline } from '../lib/pipelines.ts'

runWorkload(async (config) => {
  const expected = config.stateRecords
  if (!config.stateTopic || !expected) throw new Error('the state workload needs its topic loaded')
  let live: NodeJS.MemoryUsage | undefined
  const gc = (globalThis as { gc?: () => void }).gc
  const result = await measureBacklog(
    'state',
    statePipeline({
      id: `${config.runId}-state`,
      brokers: config.brokers,
      input: config.stateTopic,
      output: `${config.runId}-state-out`,
      deadLetters: `${config.runId}-state-dlq`,
    }),
    config,
    { records: expected, bytes: config.stateBytes ?? 0 },
    {
      onBatch: (_progress, log) => {
        if (live || log.inputRows < expected) return
        gc?.()
        live = process.memoryUsage()
      },
    },
  )
  const notes = [...(result.notes ?? [])]
  if ((result.stateRows ?? 0) < expected)
    notes.push(`state held ${result.stateRows} rows, expected ${expected}`)
  if (!gc) notes.push('no --expose-gc: the live figures include garbage')
  return {
    ...result,
    ...(live
      ? {
          liveRssMB: mb(live.rss),
          liveHeapUsedMB: mb(live.heapUsed),
          liveHeapTotalMB: mb(live.heapTotal),
          liveExternalMB: mb(live.external),
          liveArrayBuffersMB: mb(live.arrayBuffers),
        }
      : {}),
    ...(notes.length ? { notes } : {}),
  }
})
