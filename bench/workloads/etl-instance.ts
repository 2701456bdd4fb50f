/**
 * One instance of the etl pipeline scaled out (started by etl-workers.ts): the pipeline id and this
 * instance's name come after the configuration. It reads the partitions its group assigns it to the end.
 */
import { measureBacklog, runWorkload } from '../lib/child.ts'
import { etlPipeline } from '../lib/pipelines.ts'

const [, , , pipelineId, instance] = process.argv
if (!pipelineId || !instance) throw new Error('usage: etl-instance.ts <config JSON> <pipeline id> <instance>')

runWorkload((config) =>
  measureBacklog(
    'etl-instance',
    etlPipeline(
      {
        id: pipelineId,
        brokers: config.brokers,
        input: config.inputTopic,
        output: `${pipelineId}-out`,
        deadLetters: `${pipelineId}-dlq`,
      },
      config.validator,
    ),
    { ...config, checkpointDir: `${config.checkpointDir}-${pipelineId}@${instance}` },
    { records: config.inputRecords, bytes: config.inputBytes },
    { instance },
  ),
)
