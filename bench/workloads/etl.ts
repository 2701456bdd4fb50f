/** (a) parse + validate + project to a Kafka topic, exactly-once, over the whole input backlog. */
import { measureBacklog, runWorkload } from '../lib/child.ts'
import { etlPipeline } from '../lib/pipelines.ts'

runWorkload((config) =>
  measureBacklog(
    'etl',
    etlPipeline(
      {
        id: `${config.runId}-etl`,
        brokers: config.brokers,
        input: config.inputTopic,
        output: `${config.runId}-etl-out`,
        deadLetters: `${config.runId}-etl-dlq`,
      },
      config.validator,
    ),
    config,
    { records: config.inputRecords, bytes: config.inputBytes },
  ),
)
