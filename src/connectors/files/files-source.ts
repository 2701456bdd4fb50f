import { isUtf8 } from 'node:buffer'
import type { Stats } from 'node:fs'
import { type FileHandle, open, readdir, stat } from 'node:fs/promises'
import { basename, join, relative, resolve, sep } from 'node:path'
import { SluiceError, UsageError } from '../../errors.ts'
import type {
  PollOptions,
  Positions,
  SourceContext,
  SourceReader,
  SourceRecord,
  SourceSpec,
} from '../../runtime/source.ts'
import { readWhenAvailable } from '../../runtime/wait.ts'
import { isS3Path } from '../lake/open-storage.ts'
import type { S3Options } from '../lake/storage-s3.ts'
import { type CsvFormat, readCsvRecords } from './csv.ts'
import { isLakeTable, lakeTableFiles } from './lake-files.ts'
import { readLines } from './lines.ts'
import { ParquetFilesReader } from './parquet-files.ts'
import type { FramedRecord, ReadLimits, ReadResult } from './window.ts'

export type FileFormat = 'jsonl' | 'csv' | 'parquet'

export interface CsvOptions {
  /** The first record of each file names the columns (default true). Without it, rows are string arrays. */
  readonly header?: boolean
  /** Field delimiter, default ",". */
  readonly delimiter?: string
}

export interface FilesOptions {
  /**
   * A file, or a directory: then every file below it (subdirectories included) whose name ends with one of
   * `extensions`, in name order. Hidden files and directories (".name") are skipped. A directory holding a
   * lake table written by lake() (it has `_sluice_log/`), and any `s3://bucket/prefix`, is read through the
   * table's commit log instead: only committed files, whole commits in order (see lakeTable()).
   */
  readonly path: string
  readonly format: FileFormat
  readonly csv?: CsvOptions
  /**
   * Keep reading: new files in the directory and lines appended to the files are picked up by later polls
   * (the directory and the file sizes are listed again on every poll). Default false: a bounded source that
   * reads the files as they were when the run started.
   */
  readonly watch?: boolean
  /** File name endings a directory is filtered by; default .jsonl and .ndjson, or .csv. */
  readonly extensions?: readonly string[]
  /** Longest record accepted, a memory bound; longer ones fail the run. Default 16 MiB. */
  readonly maxRecordBytes?: number
  /** Watch mode: how often to look for new data while a poll waits. Default 100 ms. */
  readonly pollIntervalMs?: number
  /** Lake tables in S3: endpoint, region, path style, credentials (default: the AWS_* environment variables). */
  readonly s3?: S3Options
}

/**
 * What files() yields: jsonl lines as text (bytes when not valid UTF-8), CSV rows as objects keyed by the
 * header (string arrays without one), Parquet rows and lake table rows as objects. A CSV record that cannot
 * be a row carries `invalid` (see FileRecord).
 */
export type FileValue =
  | string
  | Buffer
  | Readonly<Record<string, string>>
  | readonly string[]
  | Readonly<Record<string, unknown>>

/**
 * A record of files(). `invalid` is set on a record the source itself could not decode (a CSV row with the
 * wrong number of fields or broken quoting, a CSV row that is not UTF-8); its value is then the raw text of
 * the record (bytes when not UTF-8), so the dead-letter output shows exactly what was in the file.
 */
export interface FileRecord extends SourceRecord {
  readonly invalid?: string
}

const DEFAULT_EXTENSIONS: Record<FileFormat, readonly string[]> = {
  jsonl: ['.jsonl', '.ndjson'],
  csv: ['.csv'],
  parquet: ['.parquet'],
}
const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf])

interface FileState {
  readonly partition: string
  readonly path: string
  /** Size when last listed. */
  size: number
  mtimeMs: number
  /** Bounded runs: the size at open, the end of what this run reads. */
  end: number
  /** Checkpoint position: the offset of the last delivered record + 1 (0: from the start). */
  resume: number
  /** Byte offset of the next record to read, once resolved from `resume` (and past a CSV header). */
  cursor: number | undefined
  /** CSV: the header (or undefined without one) and the number of fields every row must have. */
  columns: readonly string[] | undefined
  /** No column name that plain assignment would mishandle ("__proto__"). */
  plainColumns: boolean
  width: number | undefined
  /** CSV: where the data starts (after the header), once known. */
  dataStart: number | undefined
  /** The last read stopped at an incomplete record at the end of the written data, at this size. */
  stalledAt: number | undefined
  delivered: boolean
}

/**
 * Reads JSON-lines or CSV files as a replayable source. Each file is a partition named by its path
 * relative to `path` ("2026/03/02.jsonl"; a single file: its name). A record's offset is the byte offset
 * where it starts in its file; a checkpoint position is, as for every source, the last delivered offset + 1,
 * and reading resumes at the first record that starts at or after it. So a replay re-reads exactly, and a
 * file that grew (appended lines) resumes where it stopped. Files are read one after the other in name
 * order, in windows of a few hundred KiB with one file handle open at a time.
 */
export class FilesSourceReader implements SourceReader {
  readonly description: string
  readonly bounded: boolean
  /** Positions are byte offsets: lag and progress are in bytes (counting lines would mean reading ahead). */
  readonly lagUnit = 'bytes'
  /** The lag is known in memory (file sizes and cursors): asked after every batch. */
  readonly lagIntervalMs = 0
  readonly #options: FilesOptions
  readonly #root: string
  readonly #extensions: readonly string[]
  readonly #csv: CsvFormat & { readonly header: boolean }
  readonly #maxRecordBytes: number
  #rootIsFile = false
  #files = new Map<string, FileState>()
  #ordered: FileState[] = []
  #resumeFrom: Positions = {}
  #end: Positions | undefined

  constructor(options: FilesOptions, _context?: SourceContext) {
    this.#options = options
    this.#root = resolve(options.path)
    this.bounded = !options.watch
    this.description = `files ${options.path} (${options.format}${options.watch ? ', watch' : ''})`
    this.#extensions = (options.extensions ?? DEFAULT_EXTENSIONS[options.format]).map((e) => e.toLowerCase())
    this.#csv = { header: options.csv?.header ?? true, delimiter: options.csv?.delimiter ?? ',' }
    this.#maxRecordBytes = options.maxRecordBytes ?? 16 * 1024 * 1024
  }

  async open(resumeFrom: Positions | undefined): Promise<void> {
    let info: Stats
    try {
      info = await stat(this.#root)
    } catch (error) {
      if (isNotFound(error))
        throw new UsageError(`files(): ${this.#options.path} does not exist (resolved to ${this.#root}).`)
      throw new SluiceError('SLUICE_FILES', `files(): cannot read ${this.#options.path}.`, {
        domain: 'external',
        cause: error,
      })
    }
    if (!info.isFile() && !info.isDirectory())
      throw new UsageError(`files(): ${this.#options.path} is neither a file nor a directory.`)
    this.#rootIsFile = info.isFile()
    this.#resumeFrom = resumeFrom ?? {}
    await this.#scan()
    // Resolve checkpoint positions now, so that pendingPartitions() knows which files are read to the end.
    for (const state of this.#ordered) {
      if (state.resume > 0) await this.#withHandle(state, (handle) => this.#prepare(state, handle))
    }
  }

  async poll(options: PollOptions): Promise<SourceRecord[]> {
    if (!this.bounded) await this.#scan()
    const out = await this.#read(options)
    if (out.length > 0 || this.bounded || !this.#mayWait(options)) return out
    // Watch mode: wait up to idleMs for new files or lines, looking every pollIntervalMs.
    return readWhenAvailable({
      idleMs: options.idleMs,
      intervalMs: this.#options.pollIntervalMs ?? 100,
      signal: options.signal,
      refresh: () => this.#scan(),
      read: () => this.#read(options),
      keepWaiting: () => this.#mayWait(options),
    })
  }

  /** Bounded runs: the sizes at open. Watch mode: the sizes when first asked (availableNow). */
  async endPositions(): Promise<Positions> {
    if (!this.#end) {
      if (!this.bounded) await this.#scan()
      this.#end = Object.fromEntries(
        this.#ordered.map((s) => [s.partition, this.bounded ? s.end : s.size] as const),
      )
    }
    return this.#end
  }

  /** Read up to `end`, or only an incomplete last record (watch mode) or a vanished file remains. */
  caughtUp(end: Positions): boolean {
    for (const [partition, target] of Object.entries(end)) {
      if (target <= 0) continue
      const state = this.#files.get(partition)
      if (!state || state.stalledAt !== undefined) continue
      if (state.cursor === undefined || state.cursor < target) return false
    }
    return true
  }

  pendingPartitions(): ReadonlySet<string> {
    const pending = new Set<string>()
    for (const state of this.#ordered) {
      if (state.delivered || state.stalledAt !== undefined) continue
      if ((state.cursor ?? state.resume) < this.#limit(state)) pending.add(state.partition)
    }
    return pending
  }

  /** Files not read to their end (as of the last listing, in watch mode). */
  async unread(partitions: readonly string[]): Promise<ReadonlySet<string>> {
    const unread = new Set<string>()
    for (const partition of partitions) {
      const state = this.#files.get(partition)
      if (!state || state.stalledAt !== undefined) continue
      if ((state.cursor ?? state.resume) < this.#limit(state)) unread.add(partition)
    }
    return unread
  }

  /** Bytes still to read per file. */
  async lag(): Promise<Readonly<Record<string, number>>> {
    return Object.fromEntries(
      this.#ordered.map((s) => [s.partition, Math.max(0, this.#limit(s) - (s.cursor ?? s.resume))] as const),
    )
  }

  async close(): Promise<void> {}

  #limit(state: FileState): number {
    return this.bounded ? state.end : state.size
  }

  /** Watch mode: whether waiting can bring more, i.e. some file may still deliver within `until`. */
  #mayWait(options: PollOptions): boolean {
    const until = options.until
    if (!until) return true
    for (const [partition, target] of Object.entries(until)) {
      const state = this.#files.get(partition)
      if (state && (state.cursor === undefined || state.cursor < target)) return true
    }
    return false
  }

  async #read(options: PollOptions): Promise<FileRecord[]> {
    const out: FileRecord[] = []
    let bytes = 0
    for (const state of [...this.#ordered]) {
      if (out.length >= options.maxRecords || (bytes >= options.maxBytes && out.length > 0)) break
      const until = options.until ? options.until[state.partition] : Number.POSITIVE_INFINITY
      if (until === undefined) continue
      const limit = this.#limit(state)
      if (state.cursor !== undefined && (state.cursor >= limit || state.cursor >= until)) continue
      if (state.stalledAt === state.size) continue
      const result = await this.#withHandle(state, async (handle) => {
        if (!(await this.#prepare(state, handle)) || state.cursor === undefined) return undefined
        const limits: ReadLimits = {
          limit,
          final: this.bounded,
          until,
          maxRecords: options.maxRecords - out.length,
          maxBytes: Math.max(1, options.maxBytes - bytes),
          maxRecordBytes: this.#maxRecordBytes,
        }
        const from = state.cursor
        return { from, ...(await this.#readRecords(handle, state.path, from, limits)) }
      })
      if (!result) continue
      state.cursor = result.next
      state.stalledAt = result.stalled ? state.size : undefined
      const framedRecords = result.records
      for (let i = 0; i < framedRecords.length; i++) {
        const framed = framedRecords[i]!
        // Each record accounts for the bytes from the end of the one before to its own end (blank lines and
        // line breaks included), so the records of a file add up to the bytes read and the lag reaches 0.
        const start = i === 0 ? result.from : framed.offset
        const end = i + 1 < framedRecords.length ? framedRecords[i + 1]!.offset : result.next
        out.push(this.#toRecord(state, framed, end - start))
        bytes += framed.bytes.length
      }
      if (result.records.length > 0) state.delivered = true
    }
    return out
  }

  #readRecords(handle: FileHandle, path: string, from: number, limits: ReadLimits): Promise<ReadResult> {
    return this.#options.format === 'csv'
      ? readCsvRecords(handle, path, from, limits, this.#csv)
      : readLines(handle, path, from, limits)
  }

  /**
   * Before the first read of a file: a CSV file's header (or first row's width), and the cursor from the
   * checkpoint position. False while that is not possible yet (watch mode: the header is not written yet).
   */
  async #prepare(state: FileState, handle: FileHandle): Promise<boolean> {
    const limits: ReadLimits = {
      limit: this.#limit(state),
      final: this.bounded,
      until: Number.POSITIVE_INFINITY,
      maxRecords: 1,
      maxBytes: Number.POSITIVE_INFINITY,
      maxRecordBytes: this.#maxRecordBytes,
      // One record is wanted: start small (many files may be resumed at open).
      windowBytes: 16 * 1024,
    }
    if (this.#options.format === 'csv' && state.width === undefined) {
      const first = await readCsvRecords(handle, state.path, 0, limits, this.#csv)
      const record = first.records[0]
      if (!record) {
        state.stalledAt = first.stalled ? state.size : undefined
        // An empty (or blank) file: nothing to read until something is appended.
        if (!first.stalled && this.bounded) state.cursor = first.next
        return false
      }
      if (record.error || !record.fields)
        throw new UsageError(`files(): ${state.path}: cannot read the first CSV record: ${record.error}`)
      if (this.#csv.header) {
        const seen = new Set<string>()
        for (const name of record.fields) {
          if (seen.has(name))
            throw new UsageError(`files(): ${state.path}: the CSV header names column "${name}" twice.`)
          seen.add(name)
        }
        state.columns = record.fields
        state.plainColumns = !record.fields.includes('__proto__')
        state.dataStart = first.next
      } else {
        state.dataStart = record.offset
      }
      state.width = record.fields.length
    }
    if (state.cursor === undefined) {
      if (state.resume > 0) {
        if (state.resume - 1 >= limits.limit) {
          // The checkpoint read further than the file now goes: it was rewritten (or the checkpoint is foreign).
          throw new SluiceError(
            'SLUICE_FILE_TRUNCATED',
            `${state.path} is ${limits.limit} bytes but the checkpoint read it up to byte ${state.resume - 1}: files() reads append-only files.`,
            { domain: 'user' },
          )
        }
        // The record at resume - 1 was delivered: continue after it.
        const skipped = await this.#readRecords(handle, state.path, state.resume - 1, limits)
        state.cursor = skipped.records.length > 0 ? skipped.next : state.resume - 1
      } else {
        state.cursor = state.dataStart ?? 0
      }
    }
    return true
  }

  async #withHandle<T>(state: FileState, fn: (handle: FileHandle) => Promise<T>): Promise<T | undefined> {
    let handle: FileHandle
    try {
      handle = await open(state.path, 'r')
    } catch (error) {
      if (isNotFound(error) && !this.bounded) {
        // Deleted since it was listed: forget it (watch mode follows the directory).
        this.#forget(state.partition)
        return undefined
      }
      throw new SluiceError('SLUICE_FILES', `files(): cannot open ${state.path}.`, {
        domain: isNotFound(error) ? 'user' : 'external',
        cause: error,
      })
    }
    try {
      return await fn(handle)
    } finally {
      await handle.close()
    }
  }

  #toRecord(state: FileState, framed: FramedRecord, size: number): FileRecord {
    let bytes = framed.bytes
    if (framed.offset === 0 && bytes.subarray(0, 3).equals(UTF8_BOM)) bytes = bytes.subarray(3)
    const record = (value: FileValue, invalid?: string): FileRecord => ({
      partition: state.partition,
      offset: framed.offset,
      key: null,
      value,
      timestamp: Math.trunc(state.mtimeMs),
      size,
      ...(invalid === undefined ? {} : { invalid }),
    })
    const utf8 = isUtf8(bytes)
    // Text when it is valid UTF-8; otherwise (a copy of) the bytes, so that parse() reports "invalid UTF-8".
    const raw = () => (utf8 ? bytes.toString('utf8') : Buffer.from(bytes))
    if (this.#options.format === 'jsonl') return record(raw())
    if (framed.error !== undefined || !framed.fields) return record(raw(), framed.error ?? 'csv: unreadable')
    if (!utf8) return record(raw(), 'csv: invalid UTF-8')
    const fields = framed.fields
    if (fields.length !== state.width) {
      const expected = this.#csv.header ? 'the header has' : 'the first row has'
      const got = `${fields.length} field${fields.length === 1 ? '' : 's'}`
      return record(raw(), `csv: ${got}, ${expected} ${state.width}`)
    }
    const columns = state.columns
    if (!columns) return record(fields)
    const row: Record<string, string> = {}
    if (state.plainColumns) for (let i = 0; i < columns.length; i++) row[columns[i]!] = fields[i]!
    else for (let i = 0; i < columns.length; i++) defineField(row, columns[i]!, fields[i]!)
    return record(row)
  }

  /** Lists the files (again, in watch mode) with their sizes and modification times. */
  async #scan(): Promise<void> {
    const found = this.#rootIsFile ? [this.#root] : await this.#list()
    const seen = new Set<string>()
    for (const path of found) {
      let info: Stats
      try {
        info = await stat(path)
      } catch (error) {
        if (isNotFound(error)) continue
        throw error
      }
      if (!info.isFile()) continue
      const partition = this.#rootIsFile ? basename(path) : relative(this.#root, path).split(sep).join('/')
      seen.add(partition)
      const existing = this.#files.get(partition)
      if (existing) {
        if (existing.cursor !== undefined && info.size < existing.cursor)
          throw new SluiceError(
            'SLUICE_FILE_TRUNCATED',
            `${path} shrank to ${info.size} bytes, below the ${existing.cursor} already read: files() reads append-only files (a rotated or rewritten file needs a new name).`,
            { domain: 'user' },
          )
        existing.size = info.size
        existing.mtimeMs = info.mtimeMs
        continue
      }
      this.#files.set(partition, {
        partition,
        path,
        size: info.size,
        mtimeMs: info.mtimeMs,
        end: info.size,
        resume: this.#resumeFrom[partition] ?? 0,
        cursor: undefined,
        columns: undefined,
        plainColumns: true,
        width: undefined,
        dataStart: undefined,
        stalledAt: undefined,
        delivered: false,
      })
    }
    for (const partition of [...this.#files.keys()]) if (!seen.has(partition)) this.#forget(partition)
    this.#ordered = [...this.#files.values()].sort((a, b) =>
      a.partition < b.partition ? -1 : a.partition > b.partition ? 1 : 0,
    )
  }

  #forget(partition: string): void {
    this.#files.delete(partition)
    this.#ordered = this.#ordered.filter((s) => s.partition !== partition)
  }

  async #list(): Promise<string[]> {
    const entries = await readdir(this.#root, { recursive: true, withFileTypes: true })
    const out: string[] = []
    for (const entry of entries) {
      if (!(entry.isFile() || entry.isSymbolicLink())) continue
      const path = join(entry.parentPath, entry.name)
      const rel = relative(this.#root, path)
      if (rel.split(sep).some((part) => part.startsWith('.'))) continue
      const lower = entry.name.toLowerCase()
      if (!this.#extensions.some((e) => lower.endsWith(e))) continue
      out.push(path)
    }
    return out
  }
}

/**
 * A source over JSON-lines, CSV or Parquet files: `pipeline('x').from(files({ path: 'data/events', format: 'jsonl' }))`.
 * Batch by default (the files as they are when the run starts); `watch: true` follows the directory.
 * Record timestamps are the file's modification time (ms) when it was listed. A lake table (a folder with
 * `_sluice_log/`, or `s3://…`) is read through its commit log, so neither a batch run nor a watching one ever
 * sees a partial or uncommitted commit; its rows come as objects, and `format` must be the table's.
 */
export function files(options: FilesOptions): SourceSpec<FileValue> {
  if (options.format !== 'jsonl' && options.format !== 'csv' && options.format !== 'parquet')
    throw new UsageError(
      `files(): format must be "jsonl", "csv" or "parquet", got ${JSON.stringify(options.format)}.`,
    )
  if (typeof options.path !== 'string' || options.path === '')
    throw new UsageError('files(): give a path (a file or a directory).')
  const delimiter = options.csv?.delimiter
  if (delimiter !== undefined && (delimiter === '' || /["\r\n]/.test(delimiter)))
    throw new UsageError(`files(): invalid CSV delimiter ${JSON.stringify(delimiter)}.`)
  if (options.maxRecordBytes !== undefined && !(options.maxRecordBytes > 0))
    throw new UsageError('files(): maxRecordBytes must be positive.')
  if (options.s3 && !isS3Path(options.path))
    throw new UsageError('files(): s3 options are for s3://bucket/prefix paths.')
  if (isS3Path(options.path) && options.format === 'csv')
    throw new UsageError('files(): s3:// paths are read as lake tables (Parquet or JSON lines), not CSV.')
  const csv =
    options.format === 'csv'
      ? { header: options.csv?.header ?? true, delimiter: delimiter ?? ',' }
      : undefined
  return {
    type: 'files',
    options: {
      path: options.path,
      format: options.format,
      ...(csv ? { csv } : {}),
      watch: options.watch ?? false,
    },
    identity: { path: options.path, format: options.format, ...(csv ? { csv } : {}) },
    create: (context) => {
      if (isS3Path(options.path) || isLakeTable(options.path)) return lakeTableFiles(options, context)
      if (options.format === 'parquet')
        return new ParquetFilesReader({
          path: options.path,
          watch: options.watch ?? false,
          extensions: (options.extensions ?? DEFAULT_EXTENSIONS.parquet).map((e) => e.toLowerCase()),
          pollIntervalMs: options.pollIntervalMs ?? 100,
        })
      return new FilesSourceReader(options, context)
    },
  }
}

/** Sets a field as an own data property, also for a column named "__proto__". */
function defineField(row: Record<string, string>, name: string, value: string): void {
  Object.defineProperty(row, name, { value, enumerable: true, writable: true, configurable: true })
}

function isNotFound(error: unknown): boolean {
  return error instanceof Error && 'code' in error && (error.code === 'ENOENT' || error.code === 'ENOTDIR')
}
