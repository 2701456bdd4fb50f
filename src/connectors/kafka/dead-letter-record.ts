import { CUT_HEADERS, cutValue, rawBytes } from '../../runtime/dead-letter-cut.ts'
import type { DeadLetter } from '../../runtime/sink.ts'
import type { OutgoingRecord } from './records.ts'

/** The headers a dead letter carries on a Kafka topic: why, which step refused it, where it was read. */
export const DEAD_LETTER_HEADERS = {
  reason: 'sluice-dlq-reason',
  operator: 'sluice-dlq-operator',
  /** Where the record was read: its source partition ("topic:partition" for Kafka) and offset, "…@offset". */
  source: 'sluice-dlq-source',
} as const

/** Kafka's default message.max.bytes, for a topic whose own limit cannot be read. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_048_588

/** A record batch's header: a dead letter near the limit travels alone in its batch (see chunkBySize). */
const BATCH_HEADER_BYTES = 61
/** A record's own framing at most: length, attributes, timestamp and offset deltas, key and value lengths, header count. */
const RECORD_FRAMING_BYTES = 5 + 1 + 10 + 5 + 5 + 5 + 5
/** Two length varints per header. */
const HEADER_FRAMING_BYTES = 10
/** Our headers' values are short; a user's error message as the reason is cut to this many characters. */
const MAX_REASON_CHARS = 8192

/**
 * The dead letter of `letter` for `topic`, whose records may take `maxMessageBytes` (its max.message.bytes).
 * A record that fails to parse is already near the limit of its own topic, and a dead letter adds about 170
 * bytes of headers: the whole of it would be refused (MESSAGE_TOO_LARGE) on every retry, which stopped the
 * pipeline for good. When it does not fit, the value keeps its first bytes, as many as fit, and three headers
 * say it was cut, how big it was and its SHA-256.
 */
export function deadLetterRecord(
  topic: string,
  letter: DeadLetter,
  maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES,
): OutgoingRecord {
  const headers: Record<string, string> = {
    [DEAD_LETTER_HEADERS.reason]:
      letter.reason.length > MAX_REASON_CHARS
        ? `${letter.reason.slice(0, MAX_REASON_CHARS)}…`
        : letter.reason,
    [DEAD_LETTER_HEADERS.operator]: letter.operator,
    [DEAD_LETTER_HEADERS.source]: `${letter.partition}@${letter.offset}`,
  }
  const record = { topic, key: letter.key ?? undefined, timestamp: letter.timestamp, headers }
  if (letter.raw === null) return { ...record, value: null }
  const value = rawBytes(letter.raw)
  const key = letter.key === null ? 0 : Buffer.byteLength(letter.key)
  // With the cut's headers counted, whether or not they end up sent: the test below must not depend on them.
  const cutHeaders = {
    [CUT_HEADERS.truncated]: 'true',
    [CUT_HEADERS.originalBytes]: '0'.repeat(12),
    [CUT_HEADERS.sha256]: '0'.repeat(64),
  }
  const fixed = BATCH_HEADER_BYTES + RECORD_FRAMING_BYTES + key + headerBytes({ ...headers, ...cutHeaders })
  const room = maxMessageBytes - fixed - compressionSlack(maxMessageBytes)
  if (value.length <= room) return { ...record, value: letter.raw }
  const cut = cutValue(value, Math.max(0, room))
  return {
    ...record,
    value: cut.value,
    headers: {
      ...headers,
      [CUT_HEADERS.truncated]: 'true',
      [CUT_HEADERS.originalBytes]: String(cut.originalBytes),
      [CUT_HEADERS.sha256]: cut.sha256,
    },
  }
}

function headerBytes(headers: Readonly<Record<string, string>>): number {
  let bytes = 0
  for (const [k, v] of Object.entries(headers))
    bytes += HEADER_FRAMING_BYTES + Buffer.byteLength(k) + Buffer.byteLength(v)
  return bytes
}

/**
 * The broker compares the compressed batch with the limit, and incompressible bytes grow a little when
 * compressed: on 1 MiB of random bytes the client's codecs added gzip 338, zstd 33, snappy 51, lz4 15 bytes;
 * LZ4's bound is n/255 + 16. Half a KiB plus 1/256 of the limit covers them all.
 */
function compressionSlack(maxMessageBytes: number): number {
  return 512 + Math.ceil(maxMessageBytes / 256)
}
