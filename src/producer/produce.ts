import { createWriteStream } from 'node:fs'
import type { Writable } from 'node:stream'
import { ClickstreamGenerator, type GeneratedRecord } from '../clickstream/generator.ts'
import { KafkaAdmin } from '../connectors/kafka/admin.ts'
import type { KafkaConnection } from '../connectors/kafka/connection.ts'
import type { Compression } from '../connectors/kafka/records.ts'
import { SluiceError, UsageError } from '../errors.ts'
import { DEFAULTS } from './defaults.ts'
import { LineFile, type LineKey, type LineProblem, lineKey, lineNumbers } from './lines.ts'
import { Pacer } from './pacer.ts'
import { KafkaSink, type ProducedRecord, type RecordSink, StreamSink } from './sinks.ts'

export interface KafkaDestination extends KafkaConnection {
  readonly kind: 'kafka'
  readonly topic: string
  /** Partitions of the topic when it has to be created (default 3). */
  readonly partitions?: number
  /** Create the topic when it is missing (default true). */
  readonly createTopic?: boolean
  readonly compression?: Compression
}

/** JSON lines: to a file (created or truncated), or to a stream such as stdout (left open). */
export type FileDestination =
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'stream'; readonly stream: Writable; readonly name: string }

/** What every way of producing shares: where to, how fast, how much, and what to report. */
export interface ProduceCommonOptions {
  /** Stop after this many records (injected ones included). */
  readonly count?: number
  /** Stop after this many milliseconds of producing. */
  readonly durationMs?: number
  /** Records per second; 0 or absent: as fast as the destination takes them. */
  readonly rate?: number
  /**
   * Records whose event time is before this (ms since the epoch) go out at once, unpaced: with `startTime`
   * before now, the simulation's past is produced as a backlog, then the pace sets in.
   */
  readonly backfillUntil?: number
  /** Most records per Kafka request (default 2000). */
  readonly batchSize?: number
  /** Most value bytes per Kafka request (default 1 MiB, below the broker's default message.max.bytes). */
  readonly batchBytes?: number
  /**
   * Batches handed to the producer at once (default 4), so the next ones are ready while one is acknowledged;
   * the idempotent producer sends them to Kafka one at a time, in order (see OneSendAtATime).
   */
  readonly maxInFlight?: number
  /**
   * How long a batch may go unacknowledged while the producer retries through an outage (default 120 s, the
   * Java producer's `delivery.timeout.ms`). Past it, production stops with ProduceFailedError.
   */
  readonly deliveryTimeoutMs?: number
  /** Stops producing; what is in flight is still flushed and counted. */
  readonly signal?: AbortSignal
  readonly onProgress?: (progress: ProduceProgress) => void
  readonly progressIntervalMs?: number
  /** Called once the topic is ready (or the file open), before the first record. */
  readonly onStart?: (info: { destination: string; partitions?: number; topicCreated?: boolean }) => void
  /**
   * Kafka stopped acknowledging and the producer is retrying (`retrying`, once per outage, with the first error),
   * or acknowledges again (`recovered`, with how long the outage lasted).
   */
  readonly onOutage?: (event: OutageEvent) => void
}

export type OutageEvent =
  | { readonly kind: 'retrying'; readonly error: unknown; readonly deliveryTimeoutMs: number }
  | { readonly kind: 'recovered'; readonly afterMs: number }

export interface ProduceOptions extends ProduceCommonOptions {
  readonly seed: number
  readonly users: number
  /** Event time of the first simulated moment, ms since the epoch. */
  readonly startTime: number
  readonly bad?: number
  readonly late?: number
  readonly dupes?: number
  readonly destination: KafkaDestination | FileDestination
  /** Re-encodes each generated (JSON) record, e.g. into Avro in the Confluent wire format (registry-encoding.ts). */
  readonly encode?: (record: GeneratedRecord) => GeneratedRecord
}

/** Publishes the lines of a file (see produceFile). */
export interface ProduceFileOptions extends ProduceCommonOptions {
  /** A regular file: JSON lines or any other lines. */
  readonly path: string
  /**
   * Key each record by this field of its line, which must then be a JSON object (a dotted path such as
   * `user.id` reaches into nested objects). Without it the lines are published as they are, without keys.
   */
  readonly keyField?: string
  readonly destination: KafkaDestination
}

export interface ProduceProgress {
  /** Records handed to the destination. */
  readonly sent: number
  /** Records the destination acknowledged. */
  readonly delivered: number
  /** Records whose delivery failed. */
  readonly failed: number
  readonly bytes: number
  readonly elapsedMs: number
}

export interface ProduceSummary extends ProduceProgress {
  /** Delivered records that are malformed, late and duplicates. */
  readonly bad: number
  readonly late: number
  readonly dupes: number
  readonly durationMs: number
  /** Topic name or file name. */
  readonly destination: string
  readonly partitions?: number
  readonly topicCreated?: boolean
  /** Stopped by the signal before count or duration were reached. */
  readonly interrupted: boolean
  /** The destination went away without an error (a closed pipe). */
  readonly closed: boolean
}

/** Production stopped because the destination failed; `summary` counts what was delivered before. */
export class ProduceFailedError extends SluiceError {
  readonly summary: ProduceSummary

  constructor(summary: ProduceSummary, cause: unknown) {
    super('SLUICE_PRODUCE', `Producing to ${summary.destination} stopped`, { domain: 'external', cause })
    this.summary = summary
  }
}

/** Where records come from: `take` returns the next ones (at most `max`, about `maxBytes`), none at the end. */
interface RecordSource {
  take(max: number, maxBytes: number): ProducedRecord[] | Promise<ProducedRecord[]>
  /** The next records are a backlog, produced at once, unpaced (a batch from take() never straddles its end). */
  backfilling?(): boolean
}

function validateCommon(options: ProduceCommonOptions): void {
  if (options.count !== undefined && !(Number.isSafeInteger(options.count) && options.count >= 0))
    throw new UsageError(`--count must be a whole number, got ${options.count}.`)
  if (options.rate !== undefined && !(options.rate >= 0 && Number.isFinite(options.rate)))
    throw new UsageError(`--rate must be a number of records per second or "unlimited", got ${options.rate}.`)
  if (options.deliveryTimeoutMs !== undefined && !(options.deliveryTimeoutMs > 0))
    throw new UsageError(`--delivery-timeout must be longer than zero, got ${options.deliveryTimeoutMs} ms.`)
}

function validate(options: ProduceOptions): void {
  validateCommon(options)
  const fraction = (name: string, value: number | undefined) => {
    if (value !== undefined && !(value >= 0 && value <= 1))
      throw new UsageError(`--${name} must be a fraction between 0 and 1, got ${value}.`)
  }
  fraction('bad', options.bad)
  fraction('late', options.late)
  fraction('dupes', options.dupes)
  const total = (options.bad ?? 0) + (options.late ?? 0) + (options.dupes ?? 0)
  if (total > 1)
    throw new UsageError(`--bad, --late and --dupes add up to ${total}: together they must be at most 1.`)
  if (!(Number.isSafeInteger(options.users) && options.users > 0))
    throw new UsageError(`--users must be a positive whole number, got ${options.users}.`)
  if (!Number.isFinite(options.startTime)) throw new UsageError('The start time is not a valid time.')
}

/**
 * Simulates the shop and produces its events until `count` records, `durationMs`, or the signal. Every
 * record handed to Kafka is awaited before this returns: the summary's `delivered` is exactly the number of
 * records Kafka acknowledged. Through a broker outage the producer retries for up to `deliveryTimeoutMs`;
 * throws ProduceFailedError (with the summary) when delivery fails.
 */
export async function produceClickstream(options: ProduceOptions): Promise<ProduceSummary> {
  validate(options)
  const generator = new ClickstreamGenerator(options)
  const encode = options.encode
  const backfillUntil = options.backfillUntil
  const backfilling = () => backfillUntil !== undefined && generator.now < backfillUntil
  const source: RecordSource = {
    take: (max, maxBytes) => {
      const backlog = backfilling()
      const batch: ProducedRecord[] = []
      let bytes = 0
      while (batch.length < max && bytes < maxBytes) {
        const record = encode ? encode(generator.next()) : generator.next()
        batch.push(record)
        bytes += record.value.length
        if (backlog && !backfilling()) break
      }
      return batch
    },
    backfilling,
  }
  return produce(source, options, options.destination)
}

/**
 * Publishes the lines of a file to a topic, one record per line (blank lines skipped, line breaks "\n" or
 * "\r\n" not included), with the same delivery as produceClickstream: idempotent, retried through an outage
 * up to the delivery timeout, and an exact count of what Kafka acknowledged. The value is the line's bytes as
 * they are. With `keyField` every line must be a JSON object whose field is a string or a number (the record
 * key); the whole file is checked first, and a file with bad lines throws a UsageError naming the first few
 * (file:line: reason) before anything is produced.
 */
export async function produceFile(options: ProduceFileOptions): Promise<ProduceSummary> {
  validateCommon(options)
  const keyField = options.keyField
  if (keyField !== undefined && keyField.trim() === '') throw new UsageError('--key needs a field name.')
  const path = options.path
  if (keyField !== undefined) await checkLines(path, keyField)
  const file = await LineFile.open(path)
  const source: RecordSource = {
    take: async (max, maxBytes) => {
      const lines = await file.take(max, maxBytes)
      if (keyField === undefined) return lines.map((line) => ({ key: undefined, value: line.bytes }))
      const records: ProducedRecord[] = []
      for (const line of lines) {
        const key = lineKey(line.bytes, keyField)
        if ('problem' in key) {
          // The file was checked before producing: it changed since.
          const [number] = await lineNumbers(path, [line.offset])
          throw new UsageError(
            `${path}:${number}: ${key.problem}; the file changed after it was checked (the lines before were sent).`,
          )
        }
        records.push({ key: key.key, value: line.bytes })
      }
      return records
    },
  }
  try {
    return await produce(source, options, options.destination)
  } finally {
    await file.close()
  }
}

/** Every line of the file must give a key; a UsageError names the first few that do not (nothing produced yet). */
async function checkLines(path: string, keyField: string): Promise<void> {
  const file = await LineFile.open(path)
  const bad: (LineProblem & { offset: number })[] = []
  let count = 0
  try {
    for (;;) {
      const lines = await file.take(10_000, 16 * 1024 * 1024)
      if (lines.length === 0) break
      for (const line of lines) {
        const key: LineKey = lineKey(line.bytes, keyField)
        if (!('problem' in key)) continue
        count++
        if (bad.length < 5) bad.push({ offset: line.offset, problem: key.problem })
      }
    }
  } finally {
    await file.close()
  }
  if (count > 0) throw await badLines(path, keyField, bad, count)
}

async function badLines(
  path: string,
  keyField: string,
  bad: readonly (LineProblem & { offset: number })[],
  count: number,
): Promise<UsageError> {
  const numbers = await lineNumbers(
    path,
    bad.map((b) => b.offset),
  )
  const lines = bad.map((b, i) => `${path}:${numbers[i]}: ${b.problem}`)
  const more = count > bad.length ? ` (the first ${bad.length} shown)` : ''
  return new UsageError(
    `${lines.join('\n')}\n${path}: ${count} line${count === 1 ? '' : 's'} without a key${more}: with --key ${keyField} every line must be a JSON object whose "${keyField}" is a string or a number. Nothing was produced.`,
  )
}

/** The loop both modes share: batches from `source`, paced, to the destination, counted as acknowledged. */
async function produce(
  source: RecordSource,
  options: ProduceCommonOptions,
  destination: KafkaDestination | FileDestination,
): Promise<ProduceSummary> {
  const counts = { sent: 0, delivered: 0, failed: 0, bytes: 0, bad: 0, late: 0, dupes: 0 }
  const onDelivered = (batch: readonly ProducedRecord[]) => {
    counts.delivered += batch.length
    for (const r of batch) {
      counts.bytes += r.value.length + keyBytes(r.key)
      if (r.injected === undefined) continue
      if (r.injected === 'late') counts.late++
      else if (r.injected === 'dupe') counts.dupes++
      else counts.bad++
    }
  }
  const onFailed = (batch: readonly ProducedRecord[]) => {
    counts.failed += batch.length
  }

  let sink: RecordSink
  let name: string
  let partitions: number | undefined
  let topicCreated: boolean | undefined
  if (destination.kind === 'kafka') {
    name = destination.topic
    ;({ partitions, created: topicCreated } = await ensureTopic(destination))
    sink = new KafkaSink(
      {
        ...destination,
        topic: destination.topic,
        maxInFlight: options.maxInFlight ?? DEFAULTS.maxInFlight,
        deliveryTimeoutMs: options.deliveryTimeoutMs ?? DEFAULTS.deliveryTimeoutMs,
        ...(options.onOutage ? { onOutage: options.onOutage } : {}),
      },
      onDelivered,
      onFailed,
    )
  } else if (destination.kind === 'file') {
    name = destination.path
    sink = new StreamSink(await openFile(destination.path), true, onDelivered)
  } else {
    name = destination.name
    sink = new StreamSink(destination.stream, false, onDelivered)
  }
  options.onStart?.({
    destination: name,
    ...(partitions !== undefined ? { partitions } : {}),
    ...(topicCreated !== undefined ? { topicCreated } : {}),
  })

  const started = performance.now()
  const deadline = options.durationMs === undefined ? Number.POSITIVE_INFINITY : started + options.durationMs
  const count = options.count ?? Number.POSITIVE_INFINITY
  const pacer = new Pacer(options.rate ?? 0, started)
  const maxBatch = pacer.batchSize(options.batchSize ?? DEFAULTS.batchSize)
  const maxBytes = options.batchBytes ?? DEFAULTS.batchBytes
  const progress = (): ProduceProgress => ({
    sent: counts.sent,
    delivered: counts.delivered,
    failed: counts.failed,
    bytes: counts.bytes,
    elapsedMs: performance.now() - started,
  })
  const timer = options.onProgress
    ? setInterval(
        () => options.onProgress?.(progress()),
        options.progressIntervalMs ?? DEFAULTS.progressIntervalMs,
      )
    : undefined
  timer?.unref()

  let exhausted = false
  let sourceFailure: unknown
  const stopped = () =>
    exhausted ||
    options.signal?.aborted === true ||
    sink.failure !== undefined ||
    sink.closed ||
    counts.sent >= count ||
    performance.now() >= deadline
  try {
    while (!stopped()) {
      const backfill = source.backfilling?.() === true
      if (!backfill) {
        // A batch due at or after the deadline belongs to the time after it: --duration 2s at --rate 5000 is 10000.
        if (pacer.nextDue() >= deadline) break
        await pacer.wait(options.signal, deadline)
        if (stopped()) break
      }
      let batch: ProducedRecord[]
      try {
        const size = Math.min(backfill ? DEFAULTS.batchSize : maxBatch, count - counts.sent)
        batch = await source.take(size, maxBytes)
      } catch (error) {
        // The input failed (a file changed while it was read): what was sent is still flushed and counted.
        sourceFailure = error
        break
      }
      if (batch.length === 0) {
        exhausted = true
        break
      }
      counts.sent += batch.length
      // The backlog is not paced: the pace counts from its end (the pacer catches up at most a second).
      if (!backfill) pacer.sent(batch.length)
      await sink.write(batch)
    }
    // The last paced batch covers the time up to the deadline: a --duration run lasts its duration.
    if (!pacer.unlimited && deadline !== Number.POSITIVE_INFINITY && counts.sent < count && !stopped()) {
      await pacer.wait(options.signal, deadline)
    }
  } finally {
    await sink.close().catch(() => {})
    if (timer) clearInterval(timer)
  }

  const summary: ProduceSummary = {
    ...progress(),
    bad: counts.bad,
    late: counts.late,
    dupes: counts.dupes,
    durationMs: performance.now() - started,
    destination: name,
    ...(partitions !== undefined ? { partitions } : {}),
    ...(topicCreated !== undefined ? { topicCreated } : {}),
    interrupted: options.signal?.aborted === true && counts.sent < count && !exhausted,
    closed: sink.closed,
  }
  if (sink.failure !== undefined) throw new ProduceFailedError(summary, sink.failure)
  if (sourceFailure !== undefined) throw new ProduceFailedError(summary, sourceFailure)
  return summary
}

function keyBytes(key: ProducedRecord['key']): number {
  if (key === undefined) return 0
  return typeof key === 'string' ? Buffer.byteLength(key) : key.length
}

async function ensureTopic(destination: KafkaDestination): Promise<{ partitions: number; created: boolean }> {
  const admin = new KafkaAdmin(destination)
  try {
    const existing = await admin.partitionCount(destination.topic)
    if (existing !== undefined) return { partitions: existing, created: false }
    const partitions = await admin.ensureTopic(destination.topic, {
      create: destination.createTopic ?? true,
      partitions: destination.partitions ?? DEFAULTS.partitions,
    })
    return { partitions, created: true }
  } finally {
    await admin.close().catch(() => {})
  }
}

function openFile(path: string): Promise<Writable> {
  return new Promise((resolve, reject) => {
    const stream = createWriteStream(path)
    stream.once('open', () => {
      stream.off('error', reject)
      resolve(stream)
    })
    stream.once('error', (error) =>
      reject(
        new UsageError(
          `Cannot write ${path}: ${(error as NodeJS.ErrnoException).code ?? error.message}`,
          error,
        ),
      ),
    )
  })
}
