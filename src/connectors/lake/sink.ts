import { SluiceError, UsageError } from '../../errors.ts'
import type {
  OutputBatch,
  SinkCommitContext,
  SinkOpenContext,
  SinkSpec,
  SinkWriter,
} from '../../runtime/sink.ts'
import type { Positions } from '../../runtime/source.ts'
import {
  CommitLog,
  type LakeFormat,
  LOG_DIR,
  type LogEntry,
  type LogFile,
  stagedKey,
  stagingPrefix,
} from './log.ts'
import { type ParquetCompression, ParquetEncoder } from './parquet-writer.ts'
import {
  type PartitionValue,
  type PartitionValues,
  partitionPath,
  partitionString,
  shortHash,
} from './partition.ts'
import { inferColumns } from './schema.ts'
import { type LakeStorage, LocalLakeStorage } from './storage.ts'

export interface LakeOptions<T> {
  /** The table folder. */
  readonly path: string
  /** Default "parquet". */
  readonly format?: LakeFormat
  /**
   * Hive-style partition folders (`event_date=2026-11-25/event_type=purchase/`): fields of the row, or a
   * function giving the folder names and values in order. Values are percent-escaped; null or undefined is
   * the default partition (`__HIVE_DEFAULT_PARTITION__`). The rows keep every field in the data files.
   */
  readonly partitionBy?:
    | readonly (keyof T & string)[]
    | ((row: T) => Readonly<Record<string, PartitionValue>>)
  /** A data file closes once it reaches this size (Parquet: at a row group boundary). Default 128 MiB. */
  readonly targetFileBytes?: number
  /** Parquet compression, default "snappy". */
  readonly compression?: ParquetCompression
  /** Parquet rows per row group, default 122 880. */
  readonly rowGroupRows?: number
  /**
   * Who writes, as recorded in the commit log with each batch id: the pipeline id by default. A table knows
   * the last batch of each writer, so a replayed batch is recognised; a pipeline whose checkpoint was deleted
   * starts its batch ids again at 0 and needs a new writerId (or table) — reusing a batch id for other
   * input fails instead of writing twice or dropping data.
   */
  readonly writerId?: string
  /** Where the files live; default: the local file system under `path`. */
  readonly storage?: LakeStorage
}

const DEFAULT_TARGET_FILE_BYTES = 128 * 1024 * 1024

interface Staged {
  readonly batchId: number
  /** The batch is in the log already (a replay): nothing was written. */
  readonly committed: LogEntry | undefined
  readonly files: readonly LogFile[]
}

type Row = Readonly<Record<string, unknown>>

/**
 * The lake sink. For each batch with rows:
 * 1. write: the rows of each partition become data files (split at targetFileBytes) with deterministic
 *    names `part-<batchId>-<hash of writer and partition>-<n>`, staged under `.sluice-staging/<writer>/<batchId>/`;
 * 2. commit: the log entry `_sluice_log/<version>.json` listing the files is created atomically (the commit
 *    point), then the staged files are renamed into their partition folders and the source acknowledged.
 * On open, staged files of batches the log names are renamed into place (a crash after the commit point) and
 * all other staged files are deleted (a crash before it). Data files therefore appear in the table folder
 * only after their batch committed, so even a plain directory reader (files()) sees no partial batch, and a
 * replayed batch finds its log entry and writes nothing.
 */
class LakeSinkWriter<T> implements SinkWriter<T> {
  readonly description: string
  readonly guarantee = 'exactly-once'
  readonly #options: LakeOptions<T>
  readonly #format: LakeFormat
  readonly #target: number
  readonly #storage: LakeStorage
  readonly #log: CommitLog
  readonly #partitionOf: ((row: T) => PartitionValues) | undefined
  #encoder: ParquetEncoder | undefined
  #writer = ''
  /** The newest log entry (of any writer). */
  #latest: LogEntry | undefined
  /** This writer's newest log entry. */
  #own: LogEntry | undefined
  #staged: Staged | undefined

  constructor(options: LakeOptions<T>) {
    this.#options = options
    this.#format = options.format ?? 'parquet'
    this.#target = options.targetFileBytes ?? DEFAULT_TARGET_FILE_BYTES
    this.#storage = options.storage ?? new LocalLakeStorage(options.path)
    this.#log = new CommitLog(this.#storage)
    this.description = `lake ${options.path} (${this.#format})`
    this.#partitionOf = partitioner(options.partitionBy)
  }

  async open(context: SinkOpenContext): Promise<void> {
    this.#writer = this.#options.writerId ?? context.pipelineId
    await this.#loadLatest()
    if (this.#latest) {
      for (let v = this.#latest.version; v >= 0 && !this.#own; v--) {
        const entry = await this.#log.read(v)
        if (entry?.writer === this.#writer) this.#own = entry
      }
    }
    await this.#recover()
  }

  async #loadLatest(): Promise<void> {
    const versions = await this.#log.versions()
    const last = versions.at(-1)
    this.#latest = last === undefined ? undefined : await this.#log.mustRead(last)
  }

  /** Finishes a batch that committed before a crash (renames its staged files) and deletes all other staged files. */
  async #recover(): Promise<void> {
    const prefix = stagingPrefix(this.#writer)
    const byBatch = new Map<number, Set<string>>()
    for (const key of await this.#storage.list(prefix)) {
      const batchId = Number(key.slice(prefix.length).split('/')[0])
      if (!Number.isSafeInteger(batchId)) {
        await this.#storage.delete(key)
        continue
      }
      const keys = byBatch.get(batchId) ?? new Set<string>()
      keys.add(key)
      byBatch.set(batchId, keys)
    }
    for (const [batchId, keys] of byBatch) {
      const entry = await this.#find(batchId)
      if (entry) await this.#publish(entry, keys)
      for (const key of keys) await this.#storage.delete(key)
    }
    // Temporary files of a log entry whose putIfAbsent was interrupted.
    for (const key of await this.#storage.list(`${LOG_DIR}/`)) {
      if (key.slice(LOG_DIR.length + 1).startsWith('.tmp-')) await this.#storage.delete(key)
    }
  }

  /** Renames a committed batch's staged files into place; `staged` (when given) are the staged keys present. */
  async #publish(entry: LogEntry, staged?: Set<string>): Promise<void> {
    if (!this.#storage.stagesData) return
    for (const file of entry.files) {
      const key = stagedKey(entry.writer, entry.batchId, file.path)
      if (staged && !staged.has(key)) continue
      await this.#storage.rename(key, file.path)
      staged?.delete(key)
    }
  }

  /** This writer's log entry for `batchId`, if it committed one. */
  async #find(batchId: number): Promise<LogEntry | undefined> {
    if (!this.#own || this.#own.batchId < batchId) return undefined
    if (this.#own.batchId === batchId) return this.#own
    for (let v = this.#own.version - 1; v >= 0; v--) {
      const entry = await this.#log.read(v)
      if (entry?.writer !== this.#writer) continue
      if (entry.batchId === batchId) return entry
      if (entry.batchId < batchId) return undefined
    }
    return undefined
  }

  async write(batch: OutputBatch<T>): Promise<void> {
    this.#staged = undefined
    if (batch.rows.length === 0) return
    const committed = await this.#find(batch.batchId)
    if (committed) {
      this.#staged = { batchId: batch.batchId, committed, files: committed.files }
      return
    }
    await this.#clearStaging(batch.batchId)
    const groups = new Map<string, { values: PartitionValues; rows: T[] }>()
    for (const row of batch.rows) {
      const values = this.#partitionOf?.(row) ?? {}
      const path = partitionPath(values)
      let group = groups.get(path)
      if (!group) {
        group = { values, rows: [] }
        groups.set(path, group)
      }
      group.rows.push(row)
    }
    const files: LogFile[] = []
    const dirKey = this.#storage.stagesData ? stagingPrefix(this.#writer, batch.batchId) : undefined
    for (const [path, group] of groups) {
      const folder = path === '' ? '' : `${path}/`
      const prefix = `part-${batch.batchId}-${shortHash(`${this.#writer}\n${path}`)}-`
      const written =
        this.#format === 'parquet'
          ? await this.#writeParquet(dirKey ?? folder, prefix, group.rows as readonly Row[])
          : await this.#writeJsonl(dirKey ?? folder, prefix, group.rows)
      for (const file of written) {
        const name = file.key.slice(file.key.lastIndexOf('/') + 1)
        files.push({ path: `${folder}${name}`, partition: group.values, rows: file.rows, bytes: file.bytes })
      }
    }
    this.#staged = { batchId: batch.batchId, committed: undefined, files }
  }

  async #writeParquet(dirKey: string, prefix: string, rows: readonly Row[]) {
    this.#encoder ??= new ParquetEncoder({
      ...(this.#options.compression ? { compression: this.#options.compression } : {}),
      ...(this.#options.rowGroupRows ? { rowGroupRows: this.#options.rowGroupRows } : {}),
    })
    return this.#encoder.write(this.#storage, dirKey, prefix, rows, inferColumns(rows), this.#target)
  }

  async #writeJsonl(dirKey: string, prefix: string, rows: readonly T[]) {
    const out: { key: string; rows: number; bytes: number }[] = []
    let chunks: Buffer[] = []
    let bytes = 0
    const flush = async () => {
      const key = `${dirKey}${prefix}${out.length}.jsonl`
      await this.#storage.put(key, chunks)
      out.push({ key, rows: chunks.length, bytes })
      chunks = []
      bytes = 0
    }
    for (const row of rows) {
      const line = Buffer.from(`${JSON.stringify(row)}\n`)
      chunks.push(line)
      bytes += line.length
      if (bytes >= this.#target) await flush()
    }
    if (chunks.length > 0) await flush()
    return out
  }

  async commit(batch: OutputBatch<T>, context: SinkCommitContext): Promise<void> {
    if (batch.rows.length > 0) {
      const staged = this.#staged
      if (staged?.batchId !== batch.batchId)
        throw new SluiceError(
          'SLUICE_LAKE_STATE',
          `lake: batch ${batch.batchId} was not written before commit.`,
          {
            domain: 'internal',
          },
        )
      this.#staged = undefined
      if (staged.committed) {
        if (!samePositions(staged.committed.end, context.next))
          throw reusedBatch(this.description, staged.committed)
      } else {
        await this.#commitEntry(batch.batchId, staged.files, context.next)
      }
    }
    await context.source.acknowledge?.(context.next, context.records)
  }

  async #commitEntry(batchId: number, files: readonly LogFile[], end: Positions): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const latest = this.#latest
      const entry: LogEntry = {
        version: latest ? latest.version + 1 : 0,
        timestamp: Date.now(),
        operation: 'append',
        format: this.#format,
        writer: this.#writer,
        batchId,
        end,
        firstRow: latest ? latest.firstRow + latest.rows : 0,
        rows: files.reduce((n, f) => n + f.rows, 0),
        files,
      }
      if (await this.#log.commit(entry)) {
        this.#latest = entry
        this.#own = entry
        await this.#publish(entry)
        return
      }
      // Another writer took the version: read the log again and commit after it.
      if (attempt >= 20)
        throw new SluiceError(
          'SLUICE_LAKE_CONFLICT',
          `lake: ${this.description}: could not commit batch ${batchId}: other writers keep taking the next version.`,
          { domain: 'external', retryable: true },
        )
      await this.#loadLatest()
    }
  }

  async abort(batch: OutputBatch<T>): Promise<void> {
    const staged = this.#staged
    this.#staged = undefined
    if (staged && !staged.committed && batch.rows.length > 0) await this.#clearStaging(batch.batchId)
  }

  async #clearStaging(batchId: number): Promise<void> {
    for (const key of await this.#storage.list(stagingPrefix(this.#writer, batchId)))
      await this.#storage.delete(key)
  }

  async hasCommitted(batch: { readonly batchId: number; readonly end: Positions }): Promise<boolean> {
    const entry = await this.#find(batch.batchId)
    return entry !== undefined && samePositions(entry.end, batch.end)
  }

  async close(): Promise<void> {
    await this.#encoder?.close()
    this.#encoder = undefined
  }
}

function reusedBatch(description: string, entry: LogEntry): SluiceError {
  return new UsageError(
    `lake: ${description} already holds batch ${entry.batchId} of writer "${entry.writer}" (version ${entry.version}) for other input: the pipeline's checkpoint was reset. Write to a new table or give lake({ writerId }) a new id.`,
  )
}

function samePositions(a: Positions, b: Positions): boolean {
  const keys = Object.keys(a)
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k])
}

function partitioner<T>(
  partitionBy: LakeOptions<T>['partitionBy'],
): ((row: T) => PartitionValues) | undefined {
  if (partitionBy === undefined) return undefined
  if (typeof partitionBy === 'function') {
    return (row) => {
      const out: Record<string, string | null> = {}
      for (const [key, value] of Object.entries(partitionBy(row))) out[key] = partitionString(value)
      return out
    }
  }
  const keys = [...partitionBy]
  if (keys.length === 0) return undefined
  return (row) => {
    const out: Record<string, string | null> = {}
    for (const key of keys) out[key] = partitionString((row as Row)[key])
    return out
  }
}

/**
 * A data lake table as a sink, exactly once: `.to(lake({ path: 'data/lake/events', partitionBy: ['event_type'] }))`.
 * Parquet (default) or JSON lines, Hive-style partition folders, a commit log in `_sluice_log/`. Read it
 * back with lakeTable() (batch, or following new commits).
 */
export function lake<T>(options: LakeOptions<T>): SinkSpec<T> {
  if (typeof options.path !== 'string' || options.path === '')
    throw new UsageError('lake(): give the table folder as path.')
  const format = options.format ?? 'parquet'
  if (format !== 'parquet' && format !== 'jsonl')
    throw new UsageError(`lake(): format must be "parquet" or "jsonl", got ${JSON.stringify(format)}.`)
  if (options.targetFileBytes !== undefined && !(options.targetFileBytes > 0))
    throw new UsageError('lake(): targetFileBytes must be positive.')
  if (
    options.rowGroupRows !== undefined &&
    !(Number.isSafeInteger(options.rowGroupRows) && options.rowGroupRows > 0)
  )
    throw new UsageError('lake(): rowGroupRows must be a positive integer.')
  if (options.compression !== undefined && !['snappy', 'zstd', 'gzip', 'none'].includes(options.compression))
    throw new UsageError(`lake(): unknown compression ${JSON.stringify(options.compression)}.`)
  if (format === 'jsonl' && options.compression !== undefined && options.compression !== 'none')
    throw new UsageError('lake(): JSON-lines tables are not compressed (compression applies to Parquet).')
  if (options.writerId === '') throw new UsageError('lake(): writerId must not be empty.')
  return {
    type: 'lake',
    options: {
      path: options.path,
      format,
      ...(options.partitionBy
        ? { partitionBy: typeof options.partitionBy === 'function' ? 'function' : [...options.partitionBy] }
        : {}),
      targetFileBytes: options.targetFileBytes ?? DEFAULT_TARGET_FILE_BYTES,
    },
    create: () => new LakeSinkWriter<T>(options),
  }
}
