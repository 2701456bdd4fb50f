/**
 * One instance of a pipeline scaled out (started by bench/lib/scaling.ts for etl-workers and sessions-workers):
 * the pipeline kind, its id and this instance's name come after the configuration. It reads the partitions
 * its group assigns it to the end.
 */
import { measureBacklog, runWorkload } from '../lib/child.ts'
import { etlPipeline, sessionsPipeline } from '../lib/pipelines.ts'

const [, , , kind, pipelineId, instance] = process.argv
if ((kind !== 'etl' && kind !== 'sessions') || !pipelineId || !instance)
  throw new Error('usage: scaled-instance.ts <config JSON> etl|sessions <pipeline id> <instance>')

runWorkload((config) => {
  const topics = {
    id: pipelineId,
    brokers: config.brokers,
    input: config.inputTopic,
    output: `${pipelineId}-out`,
    deadLetters: `${pipelineId}-dlq`,
  }
  const run = { ...config, checkpointDir: `${config.checkpointDir}-${pipelineId}@${instance}` }
  const input = { records: config.inputRecords, bytes: config.inputBytes }
  return kind === 'etl'
    ? measureBacklog('etl-instance', etlPipeline(topics, config.validator), run, input, { instance })
    : measureBacklog('sessions-instance', sessionsPipeline(topics, { partitioned: true }), run, input, {
        instance,
      })
})
