import { randomInt } from 'node:crypto'
import { Command, InvalidArgumentError, Option } from 'commander'
import { USERS_PER_ACTIVE_SESSION } from '../clickstream/simulator.ts'
import { COMPRESSIONS, type Compression } from '../connectors/kafka/records.ts'
import { describeError, UsageError } from '../errors.ts'
import {
  DEFAULTS,
  type FileDestination,
  type KafkaDestination,
  type OutageEvent,
  ProduceFailedError,
  type ProduceProgress,
  type ProduceSummary,
  produceClickstream,
  produceFile,
} from '../producer/produce.ts'
import { formatDuration } from '../window/duration.ts'
import { fraction, isoTime, nonNegativeInt, parseDuration, positiveInt } from './options.ts'
import { interruptSignal } from './signals.ts'

interface ProduceFlags {
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
  format: string
  compression: Compression
  batchSize: number
  dryRun?: boolean
  out?: string
  file?: string
  key?: string
  deliveryTimeout: number
}

/** Flags that shape the simulated events, meaningless for --file. */
const GENERATOR_FLAGS = [
  'seed',
  'users',
  'startTime',
  'bad',
  'late',
  'dupes',
  'format',
  'dryRun',
  'out',
] as const

const DEFAULT_RATE = 1000
const DEFAULT_USERS = 100_000
const MAX_USERS = 10_000_000

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
  return new Command('produce')
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
    .option('--format <format>', 'record format: json (avro is not supported yet)', 'json')
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
      if (flags.file !== undefined) return produceLines(flags, command)
      if (flags.key !== undefined)
        throw new UsageError(
          '--key keys the lines of --file; the simulated events are always keyed by their user_id.',
        )
      if (flags.format !== 'json') {
        throw new UsageError(
          flags.format === 'avro'
            ? '--format avro is not supported yet: use --format json.'
            : `Unknown --format "${flags.format}": expected json.`,
        )
      }
      if (flags.count !== undefined && flags.duration !== undefined)
        throw new UsageError('Choose one of --count and --duration.')
      if (flags.partitions !== undefined && !flags.createTopic)
        throw new UsageError(
          '--partitions creates a missing topic: it cannot be combined with --no-create-topic.',
        )
      if (flags.users > MAX_USERS)
        throw new UsageError(`--users is at most ${MAX_USERS}, got ${flags.users}.`)
      const injected = flags.bad + flags.late + flags.dupes
      if (injected > 1)
        throw new UsageError(
          `--bad, --late and --dupes add up to ${injected}: together they must be at most 1.`,
        )
      const toFile = flags.dryRun === true || flags.out !== undefined
      const toStdout = toFile && (flags.out === undefined || flags.out === '-')
      const seed = flags.seed ?? randomInt(0, 2 ** 32)
      const startTime = flags.startTime ?? Math.floor(Date.now() / 1000) * 1000
      const destination: KafkaDestination | FileDestination = !toFile
        ? {
            kind: 'kafka',
            topic: flags.topic,
            ...(flags.brokers ? { brokers: flags.brokers } : {}),
            ...(flags.partitions ? { partitions: flags.partitions } : {}),
            createTopic: flags.createTopic,
            compression: flags.compression,
          }
        : toStdout
          ? { kind: 'stream', stream: process.stdout, name: 'stdout' }
          : { kind: 'file', path: flags.out! }
      const progress = process.stderr.isTTY === true && !toStdout ? new ProgressLine() : undefined
      const { signal, dispose } = interruptSignal()
      let summary: ProduceSummary
      try {
        summary = await produceClickstream({
          seed,
          users: flags.users,
          startTime,
          bad: flags.bad,
          late: flags.late,
          dupes: flags.dupes,
          ...(flags.count !== undefined ? { count: flags.count } : {}),
          ...(flags.duration !== undefined ? { durationMs: flags.duration } : {}),
          rate: flags.rate ?? (toFile ? 0 : DEFAULT_RATE),
          batchSize: flags.batchSize,
          deliveryTimeoutMs: flags.deliveryTimeout,
          destination,
          signal,
          ...(progress ? { onProgress: (p: ProduceProgress) => progress.update(p) } : {}),
          onStart: (info) => reportTopic(flags, info),
          onOutage: (event) => reportOutage(event, progress),
        })
      } catch (error) {
        progress?.clear()
        if (error instanceof ProduceFailedError)
          process.stderr.write(`${summaryLine(error.summary, toFile)}\n`)
        throw error
      } finally {
        dispose()
      }
      progress?.clear()
      if (flags.seed === undefined || flags.startTime === undefined) {
        process.stderr.write(
          `Replay these events with --seed ${seed} --start-time ${new Date(startTime).toISOString()} (and the same --users, --bad, --late, --dupes).\n`,
        )
      }
      process.stderr.write(`${summaryLine(summary, toFile)}\n`)
    })
}

/** `sluice produce --file PATH [--key FIELD]`: a file's lines to the topic. */
async function produceLines(flags: ProduceFlags, command: Command): Promise<void> {
  const given = GENERATOR_FLAGS.filter((name) => command.getOptionValueSource(name) === 'cli')
  if (given.length > 0) {
    const names = given.map((name) => `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`)
    throw new UsageError(
      `${names.join(', ')} shape${names.length === 1 ? 's' : ''} simulated events: not with --file.`,
    )
  }
  if (flags.count !== undefined && flags.duration !== undefined)
    throw new UsageError('Choose one of --count and --duration.')
  if (flags.partitions !== undefined && !flags.createTopic)
    throw new UsageError(
      '--partitions creates a missing topic: it cannot be combined with --no-create-topic.',
    )
  const path = flags.file!
  const progress = process.stderr.isTTY === true ? new ProgressLine() : undefined
  const { signal, dispose } = interruptSignal()
  let summary: ProduceSummary
  try {
    summary = await produceFile({
      path,
      ...(flags.key !== undefined ? { keyField: flags.key } : {}),
      ...(flags.count !== undefined ? { count: flags.count } : {}),
      ...(flags.duration !== undefined ? { durationMs: flags.duration } : {}),
      rate: flags.rate ?? 0,
      batchSize: flags.batchSize,
      deliveryTimeoutMs: flags.deliveryTimeout,
      destination: {
        kind: 'kafka',
        topic: flags.topic,
        ...(flags.brokers ? { brokers: flags.brokers } : {}),
        ...(flags.partitions ? { partitions: flags.partitions } : {}),
        createTopic: flags.createTopic,
        compression: flags.compression,
      },
      signal,
      ...(progress ? { onProgress: (p: ProduceProgress) => progress.update(p) } : {}),
      onStart: (info) => reportTopic(flags, info),
      onOutage: (event) => reportOutage(event, progress),
    })
  } catch (error) {
    progress?.clear()
    if (error instanceof ProduceFailedError)
      process.stderr.write(`${summaryLine(error.summary, false, path)}\n`)
    throw error
  } finally {
    dispose()
  }
  progress?.clear()
  process.stderr.write(`${summaryLine(summary, false, path)}\n`)
}

function reportTopic(flags: ProduceFlags, info: { partitions?: number; topicCreated?: boolean }): void {
  if (info.topicCreated)
    process.stderr.write(`Created topic ${flags.topic} with ${info.partitions} partitions.\n`)
  else if (flags.partitions !== undefined && info.partitions !== flags.partitions)
    process.stderr.write(
      `Topic ${flags.topic} already has ${info.partitions} partitions; --partitions ${flags.partitions} ignored.\n`,
    )
}

/** One line when Kafka stops acknowledging (with the cause), one when it acknowledges again. */
function reportOutage(event: OutageEvent, progress: ProgressLine | undefined): void {
  progress?.clear()
  process.stderr.write(
    event.kind === 'retrying'
      ? `Kafka is not acknowledging (${describeError(event.error)}); retrying for up to ${formatDuration(event.deliveryTimeoutMs)} (--delivery-timeout).\n`
      : `Kafka acknowledges again after ${(event.afterMs / 1000).toFixed(1)} s of retrying.\n`,
  )
}

/**
 * "Produced 100000 events to events in 3.2 s (31250 events/s, 12.1 MB/s): 2000 bad, 500 late, 300 duplicates.",
 * or for --file "Produced 500 records from data.jsonl to events in 0.2 s (2500 records/s, 0.1 MB/s)."
 */
export function summaryLine(s: ProduceSummary, toFile: boolean, from?: string): string {
  const seconds = s.durationMs / 1000
  const perSecond = seconds > 0 ? Math.round(s.delivered / seconds) : 0
  const mbPerSecond = seconds > 0 ? (s.bytes / 1e6 / seconds).toFixed(1) : '0.0'
  const verb = toFile ? 'Wrote' : 'Produced'
  const failed = s.failed > 0 ? `; ${s.failed} sent but not acknowledged` : ''
  const unit = from === undefined ? 'events' : 'records'
  const what = from === undefined ? `events to ${s.destination}` : `records from ${from} to ${s.destination}`
  const injected = from === undefined ? `: ${s.bad} bad, ${s.late} late, ${s.dupes} duplicates` : ''
  return (
    `${s.interrupted ? 'Interrupted. ' : ''}${verb} ${s.delivered} ${what} in ${seconds.toFixed(1)} s ` +
    `(${perSecond} ${unit}/s, ${mbPerSecond} MB/s)${injected}${failed}.`
  )
}

/** The live status line on a terminal: rewritten in place about four times a second. */
class ProgressLine {
  #previous: { at: number; delivered: number } | undefined
  #rate = 0
  #shown = false

  update(p: ProduceProgress): void {
    const since = this.#previous ?? { at: 0, delivered: 0 }
    if (p.elapsedMs > since.at) {
      const instant = ((p.delivered - since.delivered) * 1000) / (p.elapsedMs - since.at)
      this.#rate = this.#previous ? 0.6 * this.#rate + 0.4 * instant : instant
    }
    this.#previous = { at: p.elapsedMs, delivered: p.delivered }
    process.stderr.write(
      `\r\x1b[K${p.sent} sent · ${p.delivered} acked · ${Math.round(this.#rate)} events/s · ${p.failed} errors`,
    )
    this.#shown = true
  }

  clear(): void {
    if (this.#shown) process.stderr.write('\r\x1b[K')
    this.#shown = false
  }
}
