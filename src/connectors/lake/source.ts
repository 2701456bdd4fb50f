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
import { CommitLog, type LakeFormat, type LogEntry, type LogFile, stagedKey } from './log.ts'
import { openStorage } from './open-storage.ts'
import { ParquetFile } from './parquet-reader.ts'
import { isNotFound, type LakeStorage } from './storage.ts'
import type { S3Options } from './storage-s3.ts'

export interface LakeTableOptions {
  /** The table folder (written by lake()), or `s3://bucket/prefix`. */
  readonly path: string
  /**
   * Keep reading: commits after the ones there at open are picked up by later polls (waiting up to the
   * trigger's idle time for one). Default false: a bounded source over the commits there at open.
   */
  readonly follow?: boolean
  /** Follow mode: how often to look for a new commit while a poll waits. Default 100 ms. */
  readonly pollIntervalMs?: number
  /** S3 tables: endpoint, region, path style and credentials (default: the AWS_* environment variables). */
  readonly s3?: S3Options
  /** Where the files live; default: chosen from `path` (local folder or s3://). */
  readonly storage?: LakeStorage
  /** Refuse a table of another format (files() over a lake table: its `format` must be the table's). */
  readonly format?: LakeFormat
  /**
   * JSON-lines tables: yield each row as its line of text, as files() does for any JSON-lines file (the
   * same `.parse()` then works on a plain folder and on a table). Default false: row objects.
   */
  readonly linesAsText?: boolean
}

/** The one partition of a lake table source; its positions count the table's rows in commit order. */
export const LAKE_PARTITION = 'log'

type Row = Record<string, unknown>

/** Rows of one data file, decoded a slice (a Parquet row group, or the whole JSON-lines file) at a time. */
interface OpenFile {
  readonly key: string
  readonly file: LogFile
  /** Decoded rows [start, start + rows.length) of the file. */
  start: number
  rows: Row[]
  parquet?: ParquetFile
  lines?: { text: Buffer; starts: number[] }
}

/**
 * Reads a lake table by following its commit log: only files of committed entries, whole entries in
 * version order, so a reader never sees a partial or uncommitted batch. A record's position is the row's
 * index among all rows of the table in commit order (an entry's `firstRow` plus the row's index in the
 * entry), so a replay after a crash reads exactly the same rows.
 */
export class LakeTableReader implements SourceReader {
  readonly description: string
  readonly bounded: boolean
  readonly #options: LakeTableOptions
  readonly #storage: LakeStorage
  readonly #log: CommitLog
  /** Versions known to be committed, in order. */
  #versions: number[] = []
  /** Next row to deliver. */
  #next = 0
  /** Index into #versions of the entry holding #next (or the next entry to look at). */
  #index = 0
  #file: OpenFile | undefined
  #end: Positions | undefined
  #delivered = false

  constructor(options: LakeTableOptions, _context?: SourceContext) {
    this.#options = options
    this.#storage = openStorage(options)
    this.#log = new CommitLog(this.#storage)
    this.bounded = !options.follow
    this.description = `lake table ${options.path}${options.follow ? ' (follow)' : ''}`
  }

  async open(resumeFrom: Positions | undefined): Promise<void> {
    this.#versions = await this.#log.versions()
    if (this.bounded && this.#versions.length === 0 && (await this.#storage.list('')).length === 0)
      throw new UsageError(`lakeTable(): ${this.#options.path} holds no lake table (no commit log).`)
    this.#next = resumeFrom?.[LAKE_PARTITION] ?? 0
    this.#index = await this.#locate(this.#next)
    if (this.bounded) this.#end = { [LAKE_PARTITION]: await this.#total() }
  }

  /** Rows in the known entries. */
  async #total(): Promise<number> {
    const last = this.#versions.at(-1)
    if (last === undefined) return 0
    const entry = await this.#log.mustRead(last)
    return entry.firstRow + entry.rows
  }

  /** Index of the first known entry that ends after `row` (binary search over firstRow). */
  async #locate(row: number): Promise<number> {
    let lo = 0
    let hi = this.#versions.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      const entry = await this.#log.mustRead(this.#versions[mid] as number)
      if (entry.firstRow + entry.rows <= row) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /** Follow mode: versions committed since the last look. */
  async #refresh(): Promise<void> {
    if (this.#versions.length === 0) {
      this.#versions = await this.#log.versions()
      return
    }
    for (;;) {
      const next = (this.#versions.at(-1) as number) + 1
      if (!(await this.#log.read(next))) return
      this.#versions.push(next)
    }
  }

  async poll(options: PollOptions): Promise<SourceRecord[]> {
    if (!this.bounded) await this.#refresh()
    const out = await this.#read(options)
    if (out.length > 0 || this.bounded || !this.#mayWait(options)) return out
    return readWhenAvailable({
      idleMs: options.idleMs,
      intervalMs: this.#options.pollIntervalMs ?? 100,
      signal: options.signal,
      refresh: () => this.#refresh(),
      read: () => this.#read(options),
    })
  }

  #mayWait(options: PollOptions): boolean {
    const until = options.until?.[LAKE_PARTITION]
    return until === undefined || this.#next < until
  }

  async #read(options: PollOptions): Promise<SourceRecord[]> {
    const out: SourceRecord[] = []
    const until = Math.min(
      options.until?.[LAKE_PARTITION] ?? Number.POSITIVE_INFINITY,
      this.#end?.[LAKE_PARTITION] ?? Number.POSITIVE_INFINITY,
    )
    while (out.length < options.maxRecords && this.#next < until && !options.signal?.aborted) {
      const entry = await this.#entry()
      if (!entry) break
      const { file, start } = fileAt(entry, this.#next - entry.firstRow)
      const rows = await this.#rows(entry, file, this.#next - entry.firstRow - start)
      const take = Math.min(rows.length, options.maxRecords - out.length, until - this.#next)
      for (let i = 0; i < take; i++) {
        out.push({
          partition: LAKE_PARTITION,
          offset: this.#next,
          key: null,
          value: rows[i],
          timestamp: entry.timestamp,
        })
        this.#next++
      }
    }
    if (out.length > 0) this.#delivered = true
    return out
  }

  /** The entry holding row #next, moving past entries already read; undefined when none is known yet. */
  async #entry(): Promise<LogEntry | undefined> {
    while (this.#index < this.#versions.length) {
      const entry = await this.#log.mustRead(this.#versions[this.#index] as number)
      if (this.#options.format && entry.format !== this.#options.format)
        throw new UsageError(
          `files(): ${this.#options.path} is a lake table of ${entry.format} files (version ${entry.version}), not ${this.#options.format}: give format: '${entry.format}'.`,
        )
      if (this.#next < entry.firstRow + entry.rows && this.#next >= entry.firstRow) return entry
      if (this.#next < entry.firstRow)
        throw new SluiceError(
          'SLUICE_LAKE_LOG',
          `lake: ${this.#options.path}: row ${this.#next} is in no log entry (entry ${entry.version} starts at row ${entry.firstRow}).`,
          { domain: 'external' },
        )
      this.#index++
    }
    return undefined
  }

  /** Rows of `file` from `row` on (at least one, as many as one decoded slice holds). */
  async #rows(entry: LogEntry, file: LogFile, row: number): Promise<Row[]> {
    for (let attempt = 0; ; attempt++) {
      try {
        let open = this.#file
        if (!open || open.file !== file) {
          open = await this.#open(entry, file)
          this.#file = open
        }
        if (row < open.start || row >= open.start + open.rows.length) await this.#decode(open, row)
        const rows = open.rows.slice(row - open.start)
        if (rows.length === 0)
          throw new SluiceError(
            'SLUICE_LAKE_LOG',
            `lake: ${this.#options.path}: ${open.key} has fewer rows than log entry ${entry.version} says (${file.rows}).`,
            { domain: 'external' },
          )
        return rows
      } catch (error) {
        // The writer renamed a staged file into place while it was being read: open it where it is now.
        this.#file = undefined
        if (!isNotFound(error) || attempt >= 4) throw error
      }
    }
  }

  async #open(entry: LogEntry, file: LogFile): Promise<OpenFile> {
    // A committed file is in place, or still staged when its writer crashed before renaming it.
    let key = file.path
    for (let attempt = 0; ; attempt++) {
      const size = await this.#storage.size(key)
      if (size !== undefined) {
        const open: OpenFile = { key, file, start: 0, rows: [] }
        if (entry.format === 'parquet') {
          open.parquet = await ParquetFile.open(this.#storage, key, size)
        } else {
          const bytes = await this.#storage.get(key)
          if (!bytes && attempt < 4) {
            key = file.path
            continue
          }
          const text = Buffer.from(bytes ?? new Uint8Array())
          const starts: number[] = []
          let at = 0
          while (at < text.length) {
            const newline = text.indexOf(0x0a, at)
            const end = newline < 0 ? text.length : newline
            if (end > at) starts.push(at)
            at = end + 1
          }
          starts.push(text.length)
          open.lines = { text, starts }
        }
        return open
      }
      if (attempt >= 4)
        throw new SluiceError(
          'SLUICE_LAKE_MISSING_FILE',
          `lake: ${this.#options.path}: ${file.path} of committed version ${entry.version} is missing.`,
          { domain: 'external' },
        )
      key = key === file.path ? stagedKey(entry, file.path) : file.path
    }
  }

  async #decode(open: OpenFile, row: number): Promise<void> {
    if (open.parquet) {
      const slice = await open.parquet.slice(row)
      open.start = slice.start
      open.rows = slice.rows
      return
    }
    const lines = open.lines as { text: Buffer; starts: number[] }
    // JSON lines: parse up to 10 000 rows at a time.
    const end = Math.min(row + 10_000, lines.starts.length - 1)
    const rows: Row[] = []
    for (let i = row; i < end; i++) {
      const from = lines.starts[i] as number
      let to = lines.text.indexOf(0x0a, from)
      if (to < 0) to = lines.text.length
      const text = lines.text.toString('utf8', from, to)
      rows.push((this.#options.linesAsText ? text : JSON.parse(text)) as Row)
    }
    open.start = row
    open.rows = rows
  }

  async endPositions(): Promise<Positions> {
    if (!this.#end) {
      await this.#refresh()
      this.#end = { [LAKE_PARTITION]: await this.#total() }
    }
    return this.#end
  }

  caughtUp(end: Positions): boolean {
    return this.#next >= (end[LAKE_PARTITION] ?? 0)
  }

  pendingPartitions(): ReadonlySet<string> {
    return new Set(!this.#delivered && this.#index < this.#versions.length ? [LAKE_PARTITION] : [])
  }

  /** The table's one partition, while commits are left to read (as of the last refresh). */
  async unread(partitions: readonly string[]): Promise<ReadonlySet<string>> {
    const behind = partitions.includes(LAKE_PARTITION) && this.#next < (await this.#total())
    return new Set(behind ? [LAKE_PARTITION] : [])
  }

  async lag(): Promise<Readonly<Record<string, number>>> {
    return { [LAKE_PARTITION]: Math.max(0, (await this.#total()) - this.#next) }
  }

  async close(): Promise<void> {
    this.#file = undefined
    if (!this.#options.storage) this.#storage.close?.()
  }
}

/** The file of `entry` holding the entry's row `row`, and the entry row where that file starts. */
function fileAt(entry: LogEntry, row: number): { file: LogFile; start: number } {
  let start = 0
  for (const file of entry.files) {
    if (row < start + file.rows) return { file, start }
    start += file.rows
  }
  throw new SluiceError('SLUICE_LAKE_LOG', `lake: log entry ${entry.version} has fewer rows than it says.`, {
    domain: 'external',
  })
}

/**
 * A lake table written by lake() as a source: `pipeline('x').from(lakeTable({ path: 'data/lake/events' }))`.
 * Rows come back as the objects that were written. Bounded by default (the commits there at open: a batch
 * job); `follow: true` also reads later commits (the same pipeline as a stream).
 */
export function lakeTable<T = Record<string, unknown>>(options: LakeTableOptions): SourceSpec<T> {
  if (typeof options.path !== 'string' || options.path === '')
    throw new UsageError('lakeTable(): give the table folder as path.')
  return {
    type: 'lake',
    options: { path: options.path, follow: options.follow ?? false },
    identity: { path: options.path },
    create: (context) => new LakeTableReader(options, context),
  }
}
