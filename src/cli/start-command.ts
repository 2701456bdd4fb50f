import { Command } from 'commander'
import { type DashboardFlags, withDashboardOptions } from './dashboard-flags.ts'
import type { KafkaSecurityFlags } from './kafka-security-flags.ts'
import { lakeFormat, parseDuration, parseDurationOrZero, port, positiveInt } from './options.ts'
import { type RegistryFlags, withRegistryFlags } from './registry-flags.ts'

/** The flags of `sluice start`; the command runs in start-action.ts, loaded when it runs. */
export interface StartFlags extends KafkaSecurityFlags, DashboardFlags, RegistryFlags {
  dataDir: string
  brokers?: string
  secure?: boolean
  port: number
  rate: number
  duration?: number
  retryTimeout?: number
  history?: number
  namespace?: string
  lakeFormat?: 'parquet' | 'iceberg'
  ui: boolean
}

export function startCommand(): Command {
  return withDashboardOptions(
    withRegistryFlags(new Command('start'), 'format of the events')
      .description('run the clickstream ETL: local Kafka, the producer and the demo pipelines (npm start)')
      .option('--data-dir <dir>', 'checkpoints and the local broker', 'data')
      .option('--brokers <list>', 'use these brokers instead of a local one (default $KAFKA_BROKERS)')
      .option('--port <port>', 'port of the local broker', port, 9092)
      .option(
        '--secure',
        'secure the local broker (SASL_SSL with SCRAM, a generated CA, ACLs enforced; kept by its data dir) and connect as its super user',
      )
      .option('--rate <n>', 'clickstream events per second', positiveInt, 200)
      .option('--duration <time>', 'stop after this long (e.g. 60s) and print a summary', parseDuration)
      .option(
        '--retry-timeout <time>',
        'how long to ride out a broker it cannot reach before stopping with a summary (default 2m)',
        parseDuration,
      )
      .option(
        '--history <time>',
        "on a first run (empty events topic), begin with this much of the shop's past, produced at once " +
          "(0: none; default 5m, or 60,000 events' worth above 200 events/s)",
        parseDurationOrZero,
      )
      .option('--namespace <prefix>', 'prefix of topics and pipeline ids, to run several demos on one broker')
      .option(
        '--lake-format <format>',
        'the clean events lake: "parquet" (data/lake/events) or "iceberg" (an Iceberg table in data/lake/iceberg, its SQL catalog catalog.db)',
        lakeFormat,
      )
      .option('--no-ui', 'serve neither the dashboard nor /metrics'),
  ).action(async (flags: StartFlags) => {
    const { startMainJob } = await import('./start-action.ts')
    await startMainJob(flags)
  })
}
