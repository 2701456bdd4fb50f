/** (c) session windows per user (30-minute gap): events and revenue per session, append mode. */
import { measureBacklog, runWorkload } from '../lib/child.ts'
import { sessionsPipeline } from '../lib/pipelines.ts'

runWorkload((config) =>
  measureBacklog(
    'sessions',
    sessionsPipeline({
      id: `${config.runId}-sessions`,
      brokers: config.brokers,
      input: config.inputTopic,
      output: `${config.runId}-sessions-out`,
      deadLetters: `${config.runId}-sessions-dlq`,
    }),
    config,
    { records: config.inputRecords, bytes: config.inputBytes },
  ),
)
