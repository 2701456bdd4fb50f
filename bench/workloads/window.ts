/** (b) one-minute tumbling views and approximate distinct users per page, with a watermark, update mode. */
import { measureBacklog, runWorkload } from '../lib/child.ts'
import { windowPipeline } from '../lib/pipelines.ts'

runWorkload((config) =>
  measureBacklog(
    'window',
    windowPipeline({
      id: `${config.runId}-window`,
      brokers: config.brokers,
      input: config.inputTopic,
      output: `${config.runId}-window-out`,
      deadLetters: `${config.runId}-window-dlq`,
    }),
    config,
    { records: config.inputRecords, bytes: config.inputBytes },
  ),
)
