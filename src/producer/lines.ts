import { isUtf8 } from 'node:buffer'
import { type FileHandle, open } from 'node:fs/promises'
import { readLines } from '../connectors/files/lines.ts'
import { readWindow } from '../connectors/files/window.ts'
import { SluiceError, UsageError } from '../errors.ts'

/** A line of the file: its bytes without the line break, and where it starts. */
export interface FileLine {
  readonly offset: number
  readonly bytes: Buffer
}

/**
 * Broker's default limit for a record batch (message.max.bytes) is 1 MiB; a longer line could not be produced
 * with the default settings anyway, and this bounds the memory one line takes.
 */
const MAX_LINE_BYTES = 8 * 1024 * 1024
const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf])

/**
 * The lines of a regular file, in order, framed as files() frames JSON lines: blank lines (only spaces, tabs,
 * "\r") skipped, each other line without its "\n" or "\r\n". Reads the size the file had when opened.
 */
export class LineFile {
  readonly #path: string
  readonly #handle: FileHandle
  readonly #size: number
  #position = 0

  private constructor(path: string, handle: FileHandle, size: number) {
    this.#path = path
    this.#handle = handle
    this.#size = size
  }

  static async open(path: string): Promise<LineFile> {
    let handle: FileHandle
    try {
      handle = await open(path, 'r')
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'ENOENT') throw new UsageError(`${path}: no such file.`)
      throw new UsageError(`Cannot read ${path}: ${code ?? (error as Error).message}`, error)
    }
    const stat = await handle.stat()
    if (!stat.isFile()) {
      await handle.close()
      throw new UsageError(
        `${path} is not a regular file: --file reads a file (write a pipe's output to one first).`,
      )
    }
    return new LineFile(path, handle, stat.size)
  }

  /** The next lines: at most `max`, about `maxBytes`; none at the end of the file. */
  async take(max: number, maxBytes: number): Promise<FileLine[]> {
    if (this.#position >= this.#size || max <= 0) return []
    try {
      const read = await readLines(this.#handle, this.#path, this.#position, {
        limit: this.#size,
        final: true,
        until: Number.POSITIVE_INFINITY,
        maxRecords: max,
        maxBytes,
        maxRecordBytes: MAX_LINE_BYTES,
      })
      this.#position = read.next
      return read.records.map((r) => ({
        offset: r.offset,
        // A UTF-8 byte order mark is no part of the first line (as in files()).
        bytes: r.offset === 0 && r.bytes.subarray(0, 3).equals(UTF8_BOM) ? r.bytes.subarray(3) : r.bytes,
      }))
    } catch (error) {
      if (error instanceof SluiceError && error.code === 'SLUICE_FILE_RECORD_TOO_LONG')
        throw new UsageError(
          `${this.#path}: a line longer than ${MAX_LINE_BYTES / 1024 / 1024} MiB, more than a Kafka record may hold; is it a file of lines?`,
          error,
        )
      throw error
    }
  }

  async close(): Promise<void> {
    await this.#handle.close()
  }
}

export type LineProblem = { readonly problem: string }
export type LineKey = { readonly key: string } | LineProblem

/**
 * The record key of a JSON-lines line: its `field` (a dotted path such as `user.id` reaches into objects; a
 * field whose name has a dot in it wins), a string as it is, a number as its JSON text. Anything else is a
 * problem: not UTF-8, not JSON, not an object, no such field, or a value that is no string or number.
 */
export function lineKey(line: Buffer, field: string): LineKey {
  if (!isUtf8(line)) return { problem: 'not UTF-8' }
  let value: unknown
  try {
    value = JSON.parse(line.toString('utf8'))
  } catch (error) {
    return { problem: `not JSON (${(error as Error).message})` }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return { problem: `not a JSON object but ${describe(value)}` }
  const key = fieldOf(value as Record<string, unknown>, field)
  if (key === undefined) return { problem: `no field "${field}"` }
  if (typeof key === 'string') return { key }
  if (typeof key === 'number') {
    // JSON.parse rounds integers beyond 2^53: the key would not be the one in the file.
    if (Number.isInteger(key) && !Number.isSafeInteger(key))
      return { problem: `"${field}" is an integer too large to key by exactly (quote it in the file)` }
    return { key: String(key) }
  }
  return { problem: `"${field}" is ${describe(key)}, not a string or a number` }
}

function fieldOf(object: Record<string, unknown>, field: string): unknown {
  if (Object.hasOwn(object, field)) return object[field]
  let current: unknown = object
  for (const part of field.split('.')) {
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, part)) return undefined
    current = (current as Record<string, unknown>)[part]
  }
  return current
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'object') return 'an object'
  return `a ${typeof value}`
}

/** The 1-based line numbers of byte offsets (each the start of a line), for error messages. */
export async function lineNumbers(path: string, offsets: readonly number[]): Promise<number[]> {
  const wanted = [...new Set(offsets)].sort((a, b) => a - b)
  const found = new Map<number, number>()
  const handle = await open(path, 'r')
  try {
    let line = 1
    let position = 0
    let next = 0
    const last = wanted.at(-1) ?? 0
    while (next < wanted.length && position <= last) {
      const window = await readWindow(handle, position, 256 * 1024)
      if (window.length === 0) break
      for (let i = 0; i < window.length && next < wanted.length; i++) {
        while (next < wanted.length && position + i === wanted[next]) found.set(wanted[next++]!, line)
        if (window[i] === 0x0a) line++
      }
      position += window.length
    }
  } finally {
    await handle.close()
  }
  return offsets.map((o) => found.get(o) ?? 0)
}
