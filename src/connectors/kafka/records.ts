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
}

export type Compression = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd'
export const COMPRESSIONS: readonly Compression[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd']

export function toBuffer(value: Buffer | string): Buffer {
  return typeof value === 'string' ? Buffer.from(value) : value
}

/** "topic:partition": the key Sluice uses for per-partition maps. */
export function partitionKey(topic: string, partition: number): string {
  return `${topic}:${partition}`
}
