/**
 * 1M live window keys: a topic of small records, each with its own key, into a day-long tumbling window the
 * watermark never closes. What counts here is the peak RSS with every key in state.
 */
import { measureBacklog, runWorkload } from '../lib/child.ts'
import { statePipeline } from '../lib/pipelines.ts'

runWorkload(async (config) => {
  if (!config.stateTopic || !config.stateRecords) throw new Error('the state workload needs its topic loaded')
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
    { records: config.stateRecords, bytes: config.stateBytes ?? 0 },
  )
  const notes = [...(result.notes ?? [])]
  if ((result.stateRows ?? 0) < config.stateRecords)
    notes.push(`state held ${result.stateRows} rows, expected ${config.stateRecords}`)
  return { ...result, ...(notes.length ? { notes } : {}) }
})
