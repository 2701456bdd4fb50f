import type { FileHandle } from 'node:fs/promises'
import { SluiceError } from '../../errors.ts'

/** Bytes read per step; a record longer than this makes the window grow (up to `maxRecordBytes`). */
export const WINDOW_BYTES = 256 * 1024

/** What one read of a file may return and where it must stop. */
export interface ReadLimits {
  /** Bytes of the file that may be read: its size when listed (or the bounded run's snapshot). */
  readonly limit: number
  /**
   * The bytes up to `limit` are all there will be (a bounded run): a last record without a line break counts
   * as complete. Otherwise (watch mode) a record is complete only once its line break has been written.
   */
  readonly final: boolean
  /** Deliver only records that start before this byte (a replay's or a bounded run's end position). */
  readonly until: number
  readonly maxRecords: number
  readonly maxBytes: number
  /** A record longer than this is an error (memory bound). */
  readonly maxRecordBytes: number
  /** Size of the first read window (default WINDOW_BYTES); it grows for longer records. */
  readonly windowBytes?: number
}

/** A record as framed in the file: where it starts and its bytes (without the line break). */
export interface FramedRecord {
  /** Byte offset of the record's first byte in the file. */
  readonly offset: number
  /** A view into the read window (fresh for every read): copy it to keep it beyond the record's conversion. */
  readonly bytes: Buffer
  /** CSV: the parsed fields; undefined when the CSV parser rejected the record. */
  readonly fields?: readonly string[]
  /** Why the record could not be framed or parsed (CSV quoting errors). */
  readonly error?: string
}

export interface ReadResult {
  readonly records: FramedRecord[]
  /** Byte offset of the first byte not consumed: the start of the next record (or of blank lines before it). */
  readonly next: number
  /** Reading stopped at an incomplete record at the end of the written data (watch mode): wait for more. */
  readonly stalled: boolean
}

/** Reads `length` bytes at `position` (fewer only when the file is shorter, which the caller treats as an error). */
export async function readWindow(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length)
  let filled = 0
  while (filled < length) {
    const { bytesRead } = await handle.read(buffer, filled, length - filled, position + filled)
    if (bytesRead === 0) break
    filled += bytesRead
  }
  return filled < length ? buffer.subarray(0, filled) : buffer
}

/** Index of the first byte at or after `from` that is not a line break (skips blank lines). */
export function skipLineBreaks(buffer: Buffer, from: number): number {
  let i = from
  while (i < buffer.length && (buffer[i] === 0x0a || buffer[i] === 0x0d)) i++
  return i
}

/** `bytes` without a trailing "\r\n", "\n" or "\r". */
export function withoutLineBreak(bytes: Buffer): Buffer {
  let end = bytes.length
  if (end > 0 && bytes[end - 1] === 0x0a) end--
  if (end > 0 && bytes[end - 1] === 0x0d) end--
  return end === bytes.length ? bytes : bytes.subarray(0, end)
}

export function tooLong(path: string, offset: number, max: number): SluiceError {
  return new SluiceError(
    'SLUICE_FILE_RECORD_TOO_LONG',
    `${path}: the record at byte ${offset} is longer than ${max} bytes (maxRecordBytes); raise files({ maxRecordBytes }) if that is expected.`,
    { domain: 'user' },
  )
}

export function shrank(path: string, expected: number, actual: number): SluiceError {
  return new SluiceError(
    'SLUICE_FILE_TRUNCATED',
    `${path} shrank from ${expected} to ${actual} bytes while it was being read: files() reads append-only files (a rotated or rewritten file needs a new name).`,
    { domain: 'user' },
  )
}
