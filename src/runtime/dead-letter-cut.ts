import { createHash } from 'node:crypto'

/**
 * A dead letter's raw value cut to fit an output with a size limit (a Kafka topic's max.message.bytes): as
 * much of the start as fits, with what a reader needs to know it is not the whole record and to match it
 * with the original (its size and SHA-256). A dead letter must never stop a pipeline for being too big.
 */
export interface CutValue {
  readonly value: Buffer
  readonly originalBytes: number
  /** Hex SHA-256 of the whole original value. */
  readonly sha256: string
}

/** Header names (Kafka) and words (tables) for a cut value. */
export const CUT_HEADERS = {
  truncated: 'sluice-dlq-truncated',
  originalBytes: 'sluice-dlq-original-bytes',
  sha256: 'sluice-dlq-original-sha256',
} as const

export function rawBytes(raw: Buffer | string): Buffer {
  return typeof raw === 'string' ? Buffer.from(raw) : raw
}

/** The first at most `maxBytes` bytes of `bytes`, not splitting a UTF-8 character (most values are text). */
export function cutValue(bytes: Buffer, maxBytes: number): CutValue {
  let end = Math.max(0, Math.min(bytes.length, Math.floor(maxBytes)))
  // Back off over continuation bytes (10xxxxxx) so that text stays valid UTF-8; binary loses at most 3 bytes.
  for (let back = 0; back < 3 && end > 0 && end < bytes.length && (bytes[end]! & 0xc0) === 0x80; back++) end--
  return {
    value: bytes.subarray(0, end),
    originalBytes: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
  }
}

/** The same facts in one line, for outputs without headers (a dead-letter table's reason). */
export function describeCut(cut: CutValue): string {
  return `raw cut to its first ${cut.value.length} of ${cut.originalBytes} bytes, sha256 ${cut.sha256}`
}
