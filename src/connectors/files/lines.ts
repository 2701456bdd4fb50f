import type { FileHandle } from 'node:fs/promises'
import {
  type FramedRecord,
  type ReadLimits,
  type ReadResult,
  readWindow,
  shrank,
  tooLong,
  WINDOW_BYTES,
  withoutLineBreak,
} from './window.ts'

/**
 * Reads the lines of a JSON-lines file from byte `from` (a line start) in windows of a few hundred KiB, so a
 * file of any size streams. Blank lines (only spaces, tabs, "\r") are skipped; each other line is a record
 * at its byte offset, without its line break.
 */
export async function readLines(
  handle: FileHandle,
  path: string,
  from: number,
  limits: ReadLimits,
): Promise<ReadResult> {
  const records: FramedRecord[] = []
  let position = from
  let windowBytes = limits.windowBytes ?? WINDOW_BYTES
  let bytes = 0
  let stalled = false
  while (position < limits.limit) {
    const want = Math.min(windowBytes, limits.limit - position)
    const buffer = await readWindow(handle, position, want)
    if (buffer.length < want) throw shrank(path, limits.limit, position + buffer.length)
    const atLimit = position + buffer.length >= limits.limit
    let i = 0
    let full = false
    let incomplete = false
    while (i < buffer.length) {
      const newline = buffer.indexOf(0x0a, i)
      let end: number
      let next: number
      if (newline >= 0) {
        end = newline
        next = newline + 1
      } else if (atLimit && limits.final) {
        end = buffer.length
        next = buffer.length
      } else {
        incomplete = true
        break
      }
      const line = buffer.subarray(i, end)
      if (!isBlank(line)) {
        if (
          position + i >= limits.until ||
          records.length >= limits.maxRecords ||
          (bytes >= limits.maxBytes && records.length > 0)
        ) {
          full = true
          break
        }
        records.push({ offset: position + i, bytes: withoutLineBreak(line) })
        bytes += line.length
      }
      i = next
    }
    position += i
    if (full) break
    if (incomplete) {
      if (atLimit) {
        // The last line is still being written (watch mode): deliver it once its line break is there.
        stalled = true
        break
      }
      if (i === 0) {
        // Not one line break in the whole window: the line is longer than the window.
        if (buffer.length > limits.maxRecordBytes) throw tooLong(path, position, limits.maxRecordBytes)
        windowBytes = Math.min(windowBytes * 2, limits.maxRecordBytes + 1)
      }
    }
  }
  return { records, next: position, stalled }
}

function isBlank(line: Buffer): boolean {
  for (let i = 0; i < line.length; i++) {
    const b = line[i]
    if (b !== 0x20 && b !== 0x09 && b !== 0x0d) return false
  }
  return true
}
