import { Command } from 'commander'
import type { KafkaSecurityFlags } from './kafka-security-flags.ts'
import { parseDuration, parseDurationOrZero, port, positiveInt } from './options.ts'
import { type RegistryFlags, withRegistryFlags } from './registry-flags.ts'

/** The flags of `sluice start`; the command runs in start-action.ts, loaded when it runs. */
export interface StartFlags extends KafkaSecurityFlags, RegistryFlags {
  dataDir: string
  brokers?: string
  secure?: boolean
  port: number
  rate: number
  duration?: number
  retryTimeout?: number
  history?: number
  namespace?: string
  ui: boolean
  uiPort?: number
  uiHost: string
  uiAllowHost: string[]
  uiToken?: string
}

export function startCommand(): Command {
  const command = new Command('start')
    .description('run the clickstream ETL: local Kafka, the producer and the demo pipelines (npm start)')
    .option('--data-dir <dir>', 'checkpoints and the local broker', 'data')
    .option('--brokers <list>', 'use these brokers instead of a local one (default $KAFKA_BROKERS)')
    .option('--port <port>', 'port of the local broker', port, 9092)
    .option(
      '--secure',
      'secure the local broker (SASL_SSL with SCRAM, a generated CA, ACLs enforced; kept by its data dir) and connect as its super user',
    )
    .option('--rate <n>', 'clickstream events per second', positiveInt, 200)
  return withRegistryFlags(command, 'format of the events')
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
    .option('--no-ui', 'serve neither the dashboard nor /metrics')
    .option(
      '--ui-port <port>',
      'port of the dashboard and /metrics (default: 4040 or the next free one)',
      port,
    )
    .option(
      '--ui-host <host>',
      'address the dashboard listens on; other than loopback, requests need a token',
      '127.0.0.1',
    )
    .option(
      '--ui-allow-host <name>',
      'a host name the dashboard answers to besides its address (a proxy, a DNS name); repeatable',
      (name: string, names: string[]) => [...names, name],
      [] as string[],
    )
    .option(
      '--ui-token <token>',
      'the token dashboard requests need (default $SLUICE_UI_TOKEN, else generated)',
    )
    .action(async (flags: StartFlags) => {
      const { startMainJob } = await import('./start-action.ts')
      await startMainJob(flags)
    })
}
