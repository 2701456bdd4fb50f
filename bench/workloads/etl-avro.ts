/**
 * (a) on Avro: the etl pipeline reading the clickstream in Avro (Confluent wire format) through the schema
 * registry. The driver (bench/run.ts) starts the registry and loads the Avro topic, so neither is in this
 * process's figures.
 */
import { measureBacklog, runWorkload } from '../lib/child.ts'
import { etlAvroPipeline } from '../lib/pipelines.ts'

runWorkload((config) => {
  const avro = config.avro
  if (!avro) throw new Error('etl-avro needs the Avro topic and the registry (config.avro)')
  return measureBacklog(
    'etl-avro',
    etlAvroPipeline(
      {
        id: `${config.runId}-etl-avro`,
        brokers: config.brokers,
        input: avro.topic,
        output: `${config.runId}-etl-avro-out`,
        deadLetters: `${config.runId}-etl-avro-dlq`,
      },
      avro.registryUrl,
    ),
    config,
    { records: avro.records, bytes: avro.bytes },
  )
})
