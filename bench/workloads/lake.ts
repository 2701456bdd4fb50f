/** (a) into the Parquet lake: parse + validate + project, then lake() (one log entry per batch, exactly-once). */
import { join } from 'node:path'
import { kafka } from '../../src/connectors/kafka/source.ts'
import { lake } from '../../src/connectors/lake/index.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { measureBacklog, runWorkload } from '../lib/child.ts'
import { type ProjectedClick, project } from '../lib/pipelines.ts'
import { clickEventSchema } from '../lib/schema.ts'

runWorkload((config) =>
  measureBacklog(
    'lake',
    pipeline(`${config.runId}-lake`)
      .from(kafka({ topics: config.inputTopic, brokers: config.brokers, startingOffsets: 'earliest' }))
      .parse(clickEventSchema)
      .map(project)
      // Inside the fresh checkpoint directory, so the run's clean-up removes it.
      .to(lake<ProjectedClick>({ path: join(config.checkpointDir, 'lake-table') })),
    config,
    { records: config.inputRecords, bytes: config.inputBytes },
  ),
)
