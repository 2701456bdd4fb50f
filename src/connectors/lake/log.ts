import { SluiceError } from '../../errors.ts'
import type { Positions } from '../../runtime/source.ts'
import { escapeName, type PartitionValues } from './partition.ts'
import type { LakeStorage } from './storage.ts'

/**
 * The commit log of a lake table: `_sluice_log/<version>.json`, one entry per committed batch, versions
 * 0, 1, 2, … without gaps (20 digits, so that name order is version order). An entry is created with
 * putIfAbsent: it is there whole or not at all, and two writers cannot both take one version. A data file
 * belongs to the table exactly when an entry lists it; a reader that follows the log sees whole batches.
 */
export const LOG_DIR = '_sluice_log'
/** Data files of batches not yet committed: hidden ("."), so files() and lake readers skip them. */
export const STAGING_DIR = '.sluice-staging'

export type LakeFormat = 'parquet' | 'jsonl'

export interface LogFile {
  /** Key of the data file relative to the table folder, e.g. "event_type=click/part-7-3f2a…-0.parquet". */
  readonly path: string
  readonly partition: PartitionValues
  readonly rows: number
  readonly bytes: number
}

export interface LogEntry {
  readonly version: number
  /** Commit time, ms since the epoch. */
  readonly timestamp: number
  readonly operation: 'append'
  readonly format: LakeFormat
  /**
   * The pipeline (or `writerId`) that wrote the batch, and its batch id: a replayed batch is recognised. An
   * entry of a roll (`rollInterval`) covers batches `firstBatchId` … `batchId`.
   */
  readonly writer: string
  readonly batchId: number
  /**
   * The source positions after the (last) batch: a batch id reused with other input is refused, not skipped.
   * An entry with `partitions` holds only those partitions' positions.
   */
  readonly end: Positions
  /**
   * An instance of a pipeline whose instances share the source's partitions: the partitions this entry
   * commits, in order (their positions in `end`; one absent there has none yet). Without it, an entry commits
   * every partition of `end` (a pipeline that runs as one process).
   */
  readonly partitions?: readonly string[]
  /** Rolls only: the first batch covered, and each batch with its end positions. */
  readonly firstBatchId?: number
  readonly batches?: readonly { readonly batchId: number; readonly end: Positions }[]
  /** Position of the entry's first row among all rows of the table (the sum of earlier entries' rows). */
  readonly firstRow: number
  readonly rows: number
  readonly files: readonly LogFile[]
}

export function logKey(version: number): string {
  return `${LOG_DIR}/${String(version).padStart(20, '0')}.json`
}

/** Staging folder of one writer's batch; a data file `name` of partition hash `hash` is staged below it. */
export function stagingPrefix(writer: string, batchId?: number): string {
  const base = `${STAGING_DIR}/${escapeName(writer)}/`
  return batchId === undefined ? base : `${base}${batchId}/`
}

/**
 * Where a committed data file of `entry` waits before it is renamed into place (its name carries its
 * partition hash): the staging folder of the entry's (first) batch.
 */
export function stagedKey(
  entry: Pick<LogEntry, 'writer' | 'batchId' | 'firstBatchId'>,
  path: string,
): string {
  const name = path.slice(path.lastIndexOf('/') + 1)
  return `${stagingPrefix(entry.writer, entry.firstBatchId ?? entry.batchId)}${name}`
}

/** Rolls: the durable marker of a batch committed for the runtime but not yet in the log. */
export function pendingKey(writer: string, batchId?: number): string {
  const base = `${stagingPrefix(writer)}pending/`
  return batchId === undefined ? base : `${base}${batchId}.json`
}

/** Rolls: the spooled rows of a pending batch. */
export function spoolPrefix(writer: string, batchId?: number): string {
  const base = `${stagingPrefix(writer)}spool/`
  return batchId === undefined ? base : `${base}${batchId}/`
}

/** Whether `entry` holds batch `batchId` of its writer. */
export function covers(entry: LogEntry, batchId: number): boolean {
  return (entry.firstBatchId ?? entry.batchId) <= batchId && batchId <= entry.batchId
}

/** The end positions `entry` recorded for batch `batchId` (one of the batches it covers). */
export function endOf(entry: LogEntry, batchId: number): Positions | undefined {
  if (!entry.batches) return entry.batchId === batchId ? entry.end : undefined
  return entry.batches.find((b) => b.batchId === batchId)?.end
}

/** The partitions `entry` commits, each with the position it leaves (undefined: none committed yet). */
export function committedPartitions(entry: LogEntry): Map<string, number | undefined> {
  const out = new Map<string, number | undefined>()
  for (const partition of entry.partitions ?? Object.keys(entry.end)) out.set(partition, entry.end[partition])
  return out
}

const VERSION_FILE = /^(\d{20})\.json$/
/** Entries kept in memory; a long-running follower reads ever newer ones, so the oldest are dropped. */
const CACHE_ENTRIES = 4096

/** Reads and caches log entries of one table. */
export class CommitLog {
  readonly #storage: LakeStorage
  readonly #cache = new Map<number, LogEntry>()

  constructor(storage: LakeStorage) {
    this.#storage = storage
  }

  /** Committed versions, in order. */
  async versions(): Promise<number[]> {
    const keys = await this.#storage.list(`${LOG_DIR}/`)
    const out: number[] = []
    for (const key of keys) {
      const match = VERSION_FILE.exec(key.slice(LOG_DIR.length + 1))
      if (match) out.push(Number(match[1]))
    }
    return out.sort((a, b) => a - b)
  }

  /** The entry of `version`, or undefined when it is not (yet) committed. */
  async read(version: number): Promise<LogEntry | undefined> {
    const cached = this.#cache.get(version)
    if (cached) return cached
    const bytes = await this.#storage.get(logKey(version))
    if (!bytes) return undefined
    let entry: LogEntry
    try {
      entry = JSON.parse(Buffer.from(bytes).toString('utf8')) as LogEntry
    } catch (error) {
      throw new SluiceError(
        'SLUICE_LAKE_LOG',
        `lake: ${this.#storage.description}: log entry ${logKey(version)} is not valid JSON.`,
        { domain: 'external', cause: error },
      )
    }
    if (entry.version !== version || !Array.isArray(entry.files))
      throw new SluiceError(
        'SLUICE_LAKE_LOG',
        `lake: ${this.#storage.description}: log entry ${logKey(version)} is not a Sluice commit.`,
        { domain: 'external' },
      )
    this.#remember(entry)
    return entry
  }

  #remember(entry: LogEntry): void {
    if (this.#cache.size >= CACHE_ENTRIES) {
      const oldest = this.#cache.keys().next()
      if (!oldest.done) this.#cache.delete(oldest.value)
    }
    this.#cache.set(entry.version, entry)
  }

  async mustRead(version: number): Promise<LogEntry> {
    const entry = await this.read(version)
    if (!entry)
      throw new SluiceError(
        'SLUICE_LAKE_LOG',
        `lake: ${this.#storage.description}: log entry ${logKey(version)} is missing (the log must have no gaps).`,
        { domain: 'external' },
      )
    return entry
  }

  /** Writes `entry` as its version, unless that version exists. */
  async commit(entry: LogEntry): Promise<boolean> {
    const ok = await this.#storage.putIfAbsent(
      logKey(entry.version),
      Buffer.from(`${JSON.stringify(entry, null, 1)}\n`),
    )
    if (ok) this.#remember(entry)
    return ok
  }
}
