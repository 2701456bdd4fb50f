import { randomInt } from 'node:crypto'
import type { Command } from 'commander'
import { describeError, UsageError } from '../errors.ts'
import {
  type FileDestination,
  type KafkaDestination,
  type OutageEvent,
  ProduceFailedError,
  type ProduceProgress,
  type ProduceSummary,
  produceClickstream,
  produceFile,
} from '../producer/produce.ts'
import { type RecordEncoder, registryEncoder } from '../producer/registry-encoding.ts'
import { formatDuration } from '../window/duration.ts'
import { DEFAULT_RATE, GENERATOR_FLAGS, MAX_USERS, type ProduceFlags } from './produce-command.ts'
import { registryFormat } from './registry-flags.ts'
import { interruptSignal } from './signals.ts'

/** `sluice produce`: simulated clickstream events (or a file's lines with --file) to Kafka or a file. */
export async function produce(flags: ProduceFlags, command: Command): Promise<void> {
  if (flags.file !== undefined) return produceLines(flags, command)
  if (flags.key !== undefined)
    throw new UsageError(
      '--key keys the lines of --file; the simulated events are always keyed by their user_id.',
    )
  const encoding = await registryEncoding(flags)
  if (flags.count !== undefined && flags.duration !== undefined)
    throw new UsageError('Choose one of --count and --duration.')
  if (flags.partitions !== undefined && !flags.createTopic)
    throw new UsageError(
      '--partitions creates a missing topic: it cannot be combined with --no-create-topic.',
    )
  if (flags.users > MAX_USERS) throw new UsageError(`--users is at most ${MAX_USERS}, got ${flags.users}.`)
  const injected = flags.bad + flags.late + flags.dupes
  if (injected > 1)
    throw new UsageError(`--bad, --late and --dupes add up to ${injected}: together they must be at most 1.`)
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
      ...(encoding ? { encode: encoding.encode } : {}),
      signal,
      ...(progress ? { onProgress: (p: ProduceProgress) => progress.update(p) } : {}),
      onStart: (info) => reportTopic(flags, info),
      onOutage: (event) => reportOutage(event, progress),
    })
  } catch (error) {
    progress?.clear()
    if (error instanceof ProduceFailedError) process.stderr.write(`${summaryLine(error.summary, toFile)}\n`)
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
}

/**
 * With --format avro, protobuf or json-schema: the clickstream's schema registered under the topic's value
 * subject (TopicNameStrategy: <topic>-value) and an encoder to the Confluent wire format with its id.
 */
async function registryEncoding(flags: ProduceFlags): Promise<{ encode: RecordEncoder } | undefined> {
  const format = registryFormat(flags)
  if (format === undefined) return undefined
  if (flags.dryRun === true || flags.out !== undefined)
    throw new UsageError(`--format ${format.type} produces to Kafka: not with --dry-run or --out.`)
  const subject = `${flags.topic}-value`
  const { encode, id } = await registryEncoder(format.type, format.registry, subject)
  process.stderr.write(`Schema of ${format.type} events: id ${id}, subject ${subject}.\n`)
  return { encode }
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
