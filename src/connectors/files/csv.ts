import type { FileHandle } from 'node:fs/promises'
import { CsvError, parse } from 'csv-parse/sync'
import {
  type FramedRecord,
  type ReadLimits,
  type ReadResult,
  readWindow,
  shrank,
  skipLineBreaks,
  tooLong,
  WINDOW_BYTES,
  withoutLineBreak,
} from './window.ts'

export interface CsvFormat {
  /** Field delimiter; default ",". Quoting follows RFC 4180 (csv-parse): `"…"`, `""` inside quotes. */
  readonly delimiter: string
}

interface Parsed {
  readonly fields: string[]
  /** Index just after the record's line break in the parsed buffer. */
  readonly end: number
}

/**
 * Parses the records at the start of `buffer` with csv-parse (strict quoting, any column count, blank lines
 * skipped), up to `max` records. Records parsed before an error are kept; the error is returned.
 */
function parseWindow(
  buffer: Buffer,
  format: CsvFormat,
  max: number,
  bom: boolean,
): { records: Parsed[]; error: CsvError | undefined } {
  const records: Parsed[] = []
  try {
    parse(buffer, {
      delimiter: format.delimiter,
      bom,
      relax_column_count: true,
      skip_empty_lines: true,
      to: max,
      on_record: (record: string[], context) => {
        records.push({ fields: record, end: context.bytes })
        return null
      },
    })
  } catch (error) {
    if (error instanceof CsvError) return { records, error }
    throw error
  }
  return { records, error: undefined }
}

/**
 * Reads CSV records from byte `from` (a record start) in windows, so a file of any size streams. A record
 * may span lines (a quoted field with line breaks); its offset is the byte where it starts. A record the
 * parser rejects (bad quoting) becomes an error record that runs to the end of its line; parsing resumes
 * on the next line. Blank lines are skipped.
 */
export async function readCsvRecords(
  handle: FileHandle,
  path: string,
  from: number,
  limits: ReadLimits,
  format: CsvFormat,
): Promise<ReadResult> {
  const records: FramedRecord[] = []
  let position = from
  let windowBytes = limits.windowBytes ?? WINDOW_BYTES
  let bytes = 0
  let stalled = false
  while (position < limits.limit && records.length < limits.maxRecords && position < limits.until) {
    const want = Math.min(windowBytes, limits.limit - position)
    const buffer = await readWindow(handle, position, want)
    if (buffer.length < want) throw shrank(path, limits.limit, position + buffer.length)
    const atLimit = position + buffer.length >= limits.limit
    const complete = (end: number) =>
      end < buffer.length || buffer[end - 1] === 0x0a || (atLimit && limits.final)
    let consumed = skipLineBreaks(buffer, 0)
    let full = false
    let incomplete = false
    const room = () =>
      position + consumed < limits.until &&
      records.length < limits.maxRecords &&
      (bytes < limits.maxBytes || records.length === 0)
    if (consumed < buffer.length && room()) {
      const base = consumed
      const parsed = parseWindow(
        buffer.subarray(base),
        format,
        limits.maxRecords - records.length,
        position + base === 0,
      )
      for (const record of parsed.records) {
        const start = skipLineBreaks(buffer, consumed)
        const end = base + record.end
        if (!complete(end)) {
          incomplete = true
          break
        }
        consumed = start
        if (!room()) {
          full = true
          break
        }
        records.push({
          offset: position + start,
          bytes: withoutLineBreak(buffer.subarray(start, end)),
          fields: record.fields,
        })
        bytes += end - start
        consumed = end
      }
      consumed = skipLineBreaks(buffer, consumed)
      const error = parsed.error
      if (!full && !incomplete && error && consumed < buffer.length) {
        if (!room()) full = true
        else if (error.code === 'CSV_QUOTE_NOT_CLOSED' && !(atLimit && limits.final)) {
          // A quoted field that continues past the window (or past what has been written so far).
          incomplete = true
        } else {
          // A malformed record: everything up to the end of its line, with the parser's reason.
          const newline = buffer.indexOf(0x0a, consumed)
          if (newline < 0 && !(atLimit && limits.final)) incomplete = true
          else {
            const end = newline < 0 ? buffer.length : newline + 1
            records.push({
              offset: position + consumed,
              bytes: withoutLineBreak(buffer.subarray(consumed, end)),
              error: reason(error),
            })
            bytes += end - consumed
            consumed = skipLineBreaks(buffer, end)
          }
        }
      }
    } else if (consumed < buffer.length) {
      full = true
    }
    position += consumed
    if (full) break
    if (incomplete) {
      if (atLimit) {
        stalled = true
        break
      }
      if (consumed === 0) {
        if (buffer.length > limits.maxRecordBytes) throw tooLong(path, position, limits.maxRecordBytes)
        windowBytes = Math.min(windowBytes * 2, limits.maxRecordBytes + 1)
      }
    }
  }
  return { records, next: position, stalled }
}

/** The parser's message without its line number, which counts from where this read started, not the file's start. */
function reason(error: CsvError): string {
  return `csv: ${error.message.replace(/ (at|on) line \d+/g, '').replace(/\s+/g, ' ')}`
}
