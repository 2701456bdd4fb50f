import type { MessageToProduce } from '@platformatic/kafka'

/** A record to publish. Bytes stay bytes: Sluice never re-encodes a payload it did not create. */
export interface OutgoingRecord {
  readonly topic: string
  readonly key?: Buffer | string | undefined
  readonly value: Buffer | string | null
  readonly partition?: number
  /** Milliseconds since the epoch; the broker's append time when omitted. */
  readonly timestamp?: number
  readonly headers?: Readonly<Record<string, string | Buffer>>
}

/** A record read from Kafka, exactly as the broker returned it. */
export interface ConsumedRecord {
  readonly topic: string
  readonly partition: number
  readonly offset: bigint
  /** Create or append time in milliseconds, as a bigint like Kafka's own. */
  readonly timestamp: bigint
  readonly key: Buffer | null | undefined
  readonly value: Buffer | null | undefined
  readonly headers: Map<Buffer, Buffer>
  /** What the client noted when it fetched the record; `consumer`: the group membership it was fetched in. */
  readonly metadata?: Readonly<Record<string, unknown>>
}

export type Compression = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd'
export const COMPRESSIONS: readonly Compression[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd']

export function toBuffer(value: Buffer | string): Buffer {
  return typeof value === 'string' ? Buffer.from(value) : value
}

/** Each topic's keys by partition number (a process reads and writes a handful of topics). */
const keysByTopic = new Map<string, string[]>()

/**
 * "topic:partition": the key Sluice uses for per-partition maps. The consumer asks for it several times per
 * record, so each key is made once and handed out again: no string built per record, and maps keyed by it
 * find its hash already computed.
 */
export function partitionKey(topic: string, partition: number): string {
  let keys = keysByTopic.get(topic)
  if (keys === undefined) {
    keys = []
    keysByTopic.set(topic, keys)
  }
  let key = keys[partition]
  if (key === undefined) {
    key = `${topic}:${partition}`
    keys[partition] = key
  }
  return key
}

/**
 * Bytes one produce request may carry before it is split. The broker refuses a record batch larger than
 * `message.max.bytes` (1 MiB by default) with MESSAGE_TOO_LARGE, and the client builds one batch per partition
 * per send: a 50k-record micro-batch of incompressible ~250-byte rows is ~3 MiB per partition of 4. Chunks of at
 * most this many uncompressed bytes keep every partition's batch under the default limit, whatever the keys.
 */
export const MAX_SEND_BYTES = 896 * 1024

/**
 * Splits messages into consecutive chunks of at most `maxBytes` (keys, values and headers; one message at
 * least). Sizes come from the messages' Buffers, so nothing is encoded twice to measure it.
 */
export function chunkBySize(
  messages: readonly MessageToProduce[],
  maxBytes = MAX_SEND_BYTES,
): MessageToProduce[][] {
  const chunks: MessageToProduce[][] = []
  let chunk: MessageToProduce[] = []
  let bytes = 0
  for (const message of messages) {
    const size = messageBytes(message)
    if (chunk.length > 0 && bytes + size > maxBytes) {
      chunks.push(chunk)
      chunk = []
      bytes = 0
    }
    chunk.push(message)
    bytes += size
  }
  if (chunk.length > 0) chunks.push(chunk)
  return chunks
}

function messageBytes(message: MessageToProduce): number {
  // Per-record framing in a record batch (varints, attributes, offsets deltas): about 20 bytes.
  const size = 20 + (message.key?.length ?? 0) + (message.value?.length ?? 0)
  return message.headers ? size + headersBytes(message.headers) : size
}

/** Header bytes per headers object: a sink gives every record of a batch the same one (see toMessage). */
const headerSizes = new WeakMap<object, number>()

function headersBytes(headers: NonNullable<MessageToProduce['headers']>): number {
  let size = headerSizes.get(headers)
  if (size === undefined) {
    size = 0
    const entries = headers instanceof Map ? headers.entries() : Object.entries(headers)
    for (const [k, v] of entries) size += Buffer.byteLength(k) + v.length + 2
    headerSizes.set(headers, size)
  }
  return size
}

/**
 * A record the broker refuses as too large (MESSAGE_TOO_LARGE) is refused again on every retry: retrying the
 * batch would loop for ever, so the error says so and is final.
 */
export function tooLargeHint(description: string): string | undefined {
  return /larger than the max message size/i.test(description)
    ? ' A single record is larger than the topic accepts (message.max.bytes / max.message.bytes): raise the limit or make the record smaller.'
    : undefined
}
