import { readdir, stat } from 'node:fs/promises'
import { basename, join, relative, resolve, sep } from 'node:path'
import { SluiceError, UsageError } from '../../errors.ts'
import type { PollOptions, Positions, SourceReader, SourceRecord } from '../../runtime/source.ts'
import { ParquetFile } from '../lake/parquet-reader.ts'

export interface ParquetFilesOptions {
  readonly path: string
  readonly watch: boolean
  readonly extensions: readonly string[]
  readonly pollIntervalMs: number
}

interface ParquetState {
  readonly partition: string
  readonly path: string
  mtimeMs: number
  /** Opened once its footer is readable (in watch mode a file still being written is looked at again later). */
  file: ParquetFile | undefined
  /** Next row to deliver (a checkpoint position is the last delivered row + 1). */
  next: number
  /** Rows decoded from the current row group. */
  slice: { start: number; rows: Record<string, unknown>[] } | undefined
  delivered: boolean
}

/**
 * Parquet files as a source (read with hyparquet, one row group at a time). Each file is a partition named by
 * its path relative to `path`; a record's offset is its row index in the file, so a replay re-reads exactly.
 * Files are read whole, one after the other in name order; a Parquet file is written once, so watch mode picks
 * up new files (one whose footer cannot be read yet is still being written and is tried again), not growth.
 * Rows come back as objects (files written by lake() exactly as written).
 */
export class ParquetFilesReader implements SourceReader {
  /** Rows still to read are known from the files' footers: asked after every batch. */
  readonly lagIntervalMs = 0
  readonly description: string
  readonly bounded: boolean
  readonly #options: ParquetFilesOptions
  readonly #root: string
  #rootIsFile = false
  #files = new Map<string, ParquetState>()
  #ordered: ParquetState[] = []
  #resumeFrom: Positions = {}
  #end: Positions | undefined

  constructor(options: ParquetFilesOptions) {
    this.#options = options
    this.#root = resolve(options.path)
    this.bounded = !options.watch
    this.description = `files ${options.path} (parquet${options.watch ? ', watch' : ''})`
  }

  async open(resumeFrom: Positions | undefined): Promise<void> {
    try {
      this.#rootIsFile = (await stat(this.#root)).isFile()
    } catch (error) {
      throw new UsageError(
        `files(): ${this.#options.path} does not exist (resolved to ${this.#root}).`,
        error,
      )
    }
    this.#resumeFrom = resumeFrom ?? {}
    await this.#scan()
  }

  async poll(options: PollOptions): Promise<SourceRecord[]> {
    if (!this.bounded) await this.#scan()
    let out = await this.#read(options)
    if (out.length > 0 || this.bounded) return out
    const deadline = performance.now() + options.idleMs
    while (!options.signal?.aborted && performance.now() < deadline) {
      await new Promise((r) =>
        setTimeout(r, Math.min(this.#options.pollIntervalMs, deadline - performance.now())),
      )
      await this.#scan()
      out = await this.#read(options)
      if (out.length > 0) break
    }
    return out
  }

  async #read(options: PollOptions): Promise<SourceRecord[]> {
    const out: SourceRecord[] = []
    for (const state of this.#ordered) {
      const until = options.until ? options.until[state.partition] : Number.POSITIVE_INFINITY
      if (until === undefined || !state.file) continue
      while (out.length < options.maxRecords && state.next < Math.min(state.file.rows, until)) {
        if (
          !state.slice ||
          state.next < state.slice.start ||
          state.next >= state.slice.start + state.slice.rows.length
        )
          state.slice = await state.file.slice(state.next)
        const from = state.next - state.slice.start
        const take = Math.min(
          state.slice.rows.length - from,
          options.maxRecords - out.length,
          until - state.next,
        )
        for (let i = 0; i < take; i++) {
          out.push({
            partition: state.partition,
            offset: state.next,
            key: null,
            value: state.slice.rows[from + i],
            timestamp: Math.trunc(state.mtimeMs),
          })
          state.next++
        }
        state.delivered = true
      }
      if (state.file && state.next >= state.file.rows) state.slice = undefined
      if (out.length >= options.maxRecords) break
    }
    return out
  }

  async endPositions(): Promise<Positions> {
    if (!this.#end) {
      if (!this.bounded) await this.#scan()
      this.#end = Object.fromEntries(this.#ordered.map((s) => [s.partition, s.file?.rows ?? 0] as const))
    }
    return this.#end
  }

  caughtUp(end: Positions): boolean {
    return Object.entries(end).every(
      ([partition, target]) => (this.#files.get(partition)?.next ?? target) >= target,
    )
  }

  pendingPartitions(): ReadonlySet<string> {
    return new Set(
      this.#ordered.filter((s) => !s.delivered && s.next < (s.file?.rows ?? 1)).map((s) => s.partition),
    )
  }

  async lag(): Promise<Readonly<Record<string, number>>> {
    return Object.fromEntries(
      this.#ordered.map((s) => [s.partition, Math.max(0, (s.file?.rows ?? 0) - s.next)]),
    )
  }

  async close(): Promise<void> {}

  async #scan(): Promise<void> {
    const found = this.#rootIsFile ? [this.#root] : await this.#list()
    for (const path of found) {
      const partition = this.#rootIsFile ? basename(path) : relative(this.#root, path).split(sep).join('/')
      let state = this.#files.get(partition)
      if (!state) {
        state = {
          partition,
          path,
          mtimeMs: 0,
          file: undefined,
          next: this.#resumeFrom[partition] ?? 0,
          slice: undefined,
          delivered: false,
        }
        this.#files.set(partition, state)
      }
      if (state.file) continue
      try {
        state.mtimeMs = (await stat(path)).mtimeMs
        state.file = await ParquetFile.openPath(path)
      } catch (error) {
        // Watch mode: a file still being written has no footer yet; look again at the next scan.
        if (!this.bounded) continue
        throw new SluiceError('SLUICE_FILES', `files(): ${path} is not a readable Parquet file.`, {
          domain: 'user',
          cause: error,
        })
      }
      if (state.next > state.file.rows)
        throw new SluiceError(
          'SLUICE_FILE_TRUNCATED',
          `${path} has ${state.file.rows} rows but the checkpoint read ${state.next}: Parquet files must not be rewritten under the same name.`,
          { domain: 'user' },
        )
    }
    this.#ordered = [...this.#files.values()].sort((a, b) =>
      a.partition < b.partition ? -1 : a.partition > b.partition ? 1 : 0,
    )
  }

  async #list(): Promise<string[]> {
    const entries = await readdir(this.#root, { recursive: true, withFileTypes: true })
    const out: string[] = []
    for (const entry of entries) {
      if (!entry.isFile()) continue
      const path = join(entry.parentPath, entry.name)
      if (
        relative(this.#root, path)
          .split(sep)
          .some((part) => part.startsWith('.'))
      )
        continue
      if (!this.#options.extensions.some((e) => entry.name.toLowerCase().endsWith(e))) continue
      out.push(path)
    }
    return out
  }
}
