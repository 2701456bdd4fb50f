import { Command, InvalidArgumentError, Option } from 'commander'
import { USERS_PER_ACTIVE_SESSION } from '../clickstream/simulator.ts'
import { COMPRESSIONS, type Compression } from '../connectors/kafka/records.ts'
import { DEFAULTS } from '../producer/defaults.ts'
import { formatDuration } from '../window/duration.ts'
import { fraction, isoTime, nonNegativeInt, parseDuration, positiveInt } from './options.ts'
import { type RegistryFlags, withRegistryFlags } from './registry-flags.ts'

/** The flags of `sluice produce`; the command runs in produce-action.ts, loaded when it runs. */
export interface ProduceFlags extends RegistryFlags {
  topic: string
  brokers?: string
  rate?: number
  count?: number
  duration?: number
  seed?: number
  users: number
  startTime?: number
  partitions?: number
  createTopic: boolean
  bad: number
  late: number
  dupes: number
  compression: Compression
  batchSize: number
  dryRun?: boolean
  out?: string
  file?: string
  key?: string
  deliveryTimeout: number
}

/** Flags that shape the simulated events, meaningless for --file. */
export const GENERATOR_FLAGS = [
  'seed',
  'users',
  'startTime',
  'bad',
  'late',
  'dupes',
  'format',
  'registry',
  'registryUser',
  'registryPassword',
  'dryRun',
  'out',
] as const

export const DEFAULT_RATE = 1000
const DEFAULT_USERS = 100_000
export const MAX_USERS = 10_000_000

/** "unlimited" (or 0) for as fast as possible, else events per second. */
function rate(value: string): number {
  const text = value.trim().toLowerCase()
  if (text === 'unlimited' || text === 'max') return 0
  const n = Number(text)
  if (text === '' || !Number.isFinite(n) || n < 0)
    throw new InvalidArgumentError(`expected events per second (a number) or "unlimited", got "${value}".`)
  return n
}

export function produceCommand(): Command {
  return withRegistryFlags(new Command('produce'), 'record format')
    .description(
      'simulate the users of a web shop and its apps, and produce their clickstream events (JSON, keyed by user id)',
    )
    .option('--topic <name>', 'topic to produce to', 'events')
    .option('--brokers <list>', 'bootstrap brokers (default $KAFKA_BROKERS or 127.0.0.1:9092)')
    .option(
      '--rate <n>',
      `events per second, or "unlimited" (default ${DEFAULT_RATE}; unlimited with --dry-run/--out)`,
      rate,
    )
    .option('--count <n>', 'stop after n events (default: run until Ctrl-C)', positiveInt)
    .option('--duration <time>', 'stop after this long, e.g. 60s or 5m', parseDuration)
    .option(
      '--seed <n>',
      'random seed: the same seed gives the same events (default: a random one)',
      nonNegativeInt,
    )
    .option('--users <n>', 'number of simulated users', positiveInt, DEFAULT_USERS)
    .option(
      '--start-time <iso>',
      'event time of the start of the simulation (default: now, to the second)',
      isoTime,
    )
    .option('--partitions <n>', 'partitions of the topic if it has to be created (default 3)', positiveInt)
    .option('--no-create-topic', 'fail instead of creating a missing topic')
    .option(
      '--bad <fraction>',
      'fraction of malformed records (broken JSON, missing fields, wrong types, bad UTF-8)',
      fraction,
      0,
    )
    .option(
      '--late <fraction>',
      'fraction of events whose event time is 2-30 minutes in the past',
      fraction,
      0,
    )
    .option(
      '--dupes <fraction>',
      'fraction of records that repeat a recent record (same event id)',
      fraction,
      0,
    )
    .addOption(
      new Option('--compression <codec>', 'compression of record batches')
        .choices(COMPRESSIONS)
        .default('lz4'),
    )
    .option('--batch-size <n>', 'most records per produce request', positiveInt, 2000)
    .option('--dry-run', 'write the events as JSON lines to stdout (or --out) instead of Kafka')
    .option('--out <file>', 'write the events as JSON lines to this file instead of Kafka ("-" for stdout)')
    .option(
      '--file <path>',
      'publish the lines of this file instead of simulated events: one record per line, its bytes as they are',
    )
    .option(
      '--key <field>',
      'with --file: key each record by this field of its line (JSON lines; a.b for nested fields)',
    )
    .addOption(
      new Option(
        '--delivery-timeout <time>',
        'how long to keep retrying a batch Kafka does not acknowledge (a broker outage), e.g. 30s or 5m',
      )
        .argParser(parseDuration)
        .default(DEFAULTS.deliveryTimeoutMs, formatDuration(DEFAULTS.deliveryTimeoutMs)),
    )
    .addHelpText(
      'after',
      `
Events: page_view, search, click, add_to_cart, remove_from_cart, checkout, purchase, login, signup, app_open
and error, schema in schemas/clickstream-event.schema.json. About users/${USERS_PER_ACTIVE_SESSION} sessions
run at once and the shop makes about users/100 events per second of event time: with the defaults
(${DEFAULT_USERS} users, --rate ${DEFAULT_RATE}) event time keeps pace with the clock.

The same --seed, --users, --start-time and --bad/--late/--dupes give byte-identical records, whatever the
rate. Injected records carry a "sluice-injected" header: "bad:<kind>", "late" or "dupe".
--out/--dry-run write one line per record: its value bytes as they would be sent (malformed ones too).

--file PATH publishes a file's lines instead (blank lines skipped), as fast as Kafka takes them unless --rate
is given: the value is the line's bytes without its line break. With --key FIELD every line must be a JSON
object whose FIELD is a string or a number, the record key; a file with lines that are not is refused before
anything is produced, naming them (file:line: reason). Without --key any lines go, unkeyed.

Delivery is idempotent (acks=all, retries never duplicate) and the summary counts exactly what Kafka
acknowledged. A broker unreachable at the start fails at once; an outage while producing is retried for up to
--delivery-timeout (default ${formatDuration(DEFAULTS.deliveryTimeoutMs)}), then the command stops with a non-zero exit and the count delivered.`,
    )
    .action(async (flags: ProduceFlags, command: Command) => {
      const { produce } = await import('./produce-action.ts')
      await produce(flags, command)
    })
}
