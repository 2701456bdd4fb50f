import { SluiceError, UsageError } from '../../errors.ts'
import {
  type DeadLetter,
  type OutputBatch,
  type SinkCommitContext,
  type SinkContract,
  SinkFencedError,
  type SinkOpenContext,
  type SinkWriter,
} from '../../runtime/sink.ts'
import type { Positions } from '../../runtime/source.ts'
import { parseDuration } from '../../window/duration.ts'
import { batchPartitions } from '../sql/partition-versions.ts'
import { DataFileWriter } from './data-files.ts'
import {
  CommitLog,
  covers,
  endOf,
  type LakeFormat,
  type LogEntry,
  type LogFile,
  pendingKey,
  spoolPrefix,
  stagedKey,
  stagingPrefix,
} from './log.ts'
import { openStorage } from './open-storage.ts'
import { DEFAULT_TARGET_FILE_BYTES, type LakeOptions } from './options.ts'
import { type PartitionValues, partitionString, shortHash } from './partition.ts'
import { PartitionPositions } from './partition-positions.ts'
import { deleteOrphans, recoverStaging } from './recovery.ts'
import { type RollResult, Spool, type SpoolFile } from './roll.ts'
import { DEFAULT_MAX_COLUMNS, groupRows } from './rows.ts'
import { isNotFound, type LakeStorage } from './storage.ts'

interface Staged {
  readonly batchId: number
  /**
   * The batch id the log and the file names get: the runtime's, but in a scaled-out run at least one past
   * this writer's last (an instance whose checkpoint was lost counts its batches from 0 again).
   */
  readonly id: number
  /** The batch is committed already (a replay): its end positions as recorded; nothing was written. */
  readonly committedEnd: Positions | undefined
  readonly committedIn: string
  /** Per-batch mode: the data files written. */
  readonly files: readonly LogFile[]
  /** Roll mode: the spooled rows. */
  readonly spooled: readonly SpoolFile[]
}

type Row = Readonly<Record<string, unknown>>

/**
 * The lake sink. Per batch (default), for each batch with rows:
 * 1. write: the rows of each partition become data files (split at targetFileBytes) with deterministic
 *    names `part-<batchId>-<hash of writer and partition>-<n>`, staged under `.sluice-staging/<writer>/<batchId>/`
 *    (stores without rename, S3: under their final keys);
 * 2. commit: the log entry `_sluice_log/<version>.json` listing the files is created atomically (the commit
 *    point), then the staged files are renamed into their partition folders and the source acknowledged.
 * With rollInterval, write spools the rows and commit creates a pending marker (the commit point for the
 * runtime); a roll later turns the spooled batches into files and one log entry (see roll.ts).
 * On open, the writer's leftovers are put right (recovery.ts): files of committed batches renamed into place,
 * everything a crashed batch left deleted. A replayed batch finds its commit and writes nothing.
 *
 * Scaled out (open()'s instance: a stateless pipeline whose instances share a Kafka topic's partitions), each
 * instance is a writer of its own, `<writerId or pipeline id>@<instance>`, with its own staging folder, batch
 * ids and recovery. Its entries name the partitions they commit and hold only their positions, and the
 * runtime asks the table where each partition it is assigned stands (partitionPositions): the newest entry
 * committing it, of any writer. A commit is fenced when another writer committed one of its partitions
 * since (PartitionPositions), so an instance whose partition moved away cannot write it twice.
 */
/**
 * Exactly-once: a batch's files and the source positions after it commit in one log entry. Dead letters are
 * not the lake's: wrap it in withKafkaDeadLetters() to keep them, otherwise the runtime logs them.
 */
const LAKE_SINK_CONTRACT: SinkContract = Object.freeze({
  guarantee: 'exactly-once',
  storesPositions: true,
  commitsSourceOffsets: false,
  storesDeadLetters: false,
})

export class LakeSinkWriter<T> implements SinkWriter<T> {
  readonly description: string
  readonly #options: LakeOptions<T>
  readonly #format: LakeFormat
  readonly #target: number
  readonly #rollMs: number | undefined
  readonly #storage: LakeStorage
  readonly #log: CommitLog
  readonly #partitionOf: ((row: T) => PartitionValues) | undefined
  readonly #files: DataFileWriter
  readonly #maxColumns: number
  #writer = ''
  /** The newest log entry (of any writer). */
  #latest: LogEntry | undefined
  /** This writer's newest log entry. */
  #own: LogEntry | undefined
  /** Set when this writer is one of several instances sharing the source's partitions (open()'s instance). */
  #positions: PartitionPositions | undefined
  #staged: Staged | undefined
  /** The rows of the last batch written that the lake cannot store, as dead letters. */
  #rejected: { readonly batch: OutputBatch<T>; readonly letters: readonly DeadLetter[] } | undefined
  #spool: Spool | undefined
  /** Serialises the runtime's calls with rolls started by the timer. */
  #lock: Promise<unknown> = Promise.resolve()
  #timer: NodeJS.Timeout | undefined
  /** A roll started by the timer failed: the next call reports it. */
  #failure: unknown

  constructor(options: LakeOptions<T>) {
    this.#options = options
    // lake() sends format "iceberg" to the Iceberg writer.
    this.#format = options.format === 'jsonl' ? 'jsonl' : 'parquet'
    this.#target = options.targetFileBytes ?? DEFAULT_TARGET_FILE_BYTES
    this.#rollMs =
      options.rollInterval === undefined
        ? undefined
        : parseDuration(options.rollInterval, 'lake rollInterval')
    this.#maxColumns = options.maxColumns ?? DEFAULT_MAX_COLUMNS
    this.#storage = openStorage(options)
    this.#log = new CommitLog(this.#storage)
    this.description = `lake ${options.path} (${this.#format})`
    this.#partitionOf = partitioner(options.partitionBy)
    this.#files = new DataFileWriter({
      format: this.#format,
      targetFileBytes: this.#target,
      ...(options.compression ? { compression: options.compression } : {}),
      ...(options.rowGroupRows ? { rowGroupRows: options.rowGroupRows } : {}),
    })
  }

  async open(context: SinkOpenContext): Promise<SinkContract> {
    const single = this.#options.writerId ?? context.pipelineId
    // lake() declares scalesOut only then; the runtime names an instance only for a sink that does.
    const instance =
      this.#rollMs === undefined && this.#options.scaleOut !== false ? context.instance : undefined
    this.#writer = instance === undefined ? single : `${single}@${instance}`
    this.#files.rowType = context.rowType
    await this.#loadLatest()
    this.#own = await this.#newestOf(this.#writer)
    await recoverStaging(
      this.#storage,
      this.#writer,
      (id) => this.#find(id),
      (entry, keys) => this.#publish(entry, keys),
    )
    if (!this.#storage.stagesData) await deleteOrphans(this.#storage, this.#writer, this.#own?.batchId ?? -1)
    this.#spool = new Spool(this.#storage, this.#writer)
    await this.#spool.load(async (id) => (await this.#find(id)) !== undefined)
    // Batches an earlier run left in the spool: without rollInterval now, they roll before any new batch (a
    // writer's entries stay in batch order).
    if (this.#rollMs === undefined) await this.#roll()
    this.#arm()
    if (instance === undefined) return LAKE_SINK_CONTRACT
    await this.#adopt(single)
    const positions = new PartitionPositions(
      this.description,
      this.#latest?.version ?? -1,
      (entry) => entry.writer === single || entry.writer.startsWith(`${single}@`),
    )
    this.#positions = positions
    return {
      ...LAKE_SINK_CONTRACT,
      partitionPositions: {
        read: (partitions) =>
          this.#exclusive(async () => {
            await this.#catchUp()
            return positions.read(partitions, this.#log, this.#latest?.version ?? -1)
          }),
      },
    }
  }

  /** The newest entry of `writer`, looking back from the newest entry of the log. */
  async #newestOf(writer: string): Promise<LogEntry | undefined> {
    for (let v = this.#latest?.version ?? -1; v >= 0; v--) {
      const entry = await this.#log.read(v)
      if (entry?.writer === writer) return entry
    }
    return undefined
  }

  /**
   * A scaled-out instance on a table its pipeline wrote as one process (writer `single`): what that process
   * left after a crash is put right as its own restart would have (its staged files of committed batches
   * renamed into place, the rest and, on S3, its orphans deleted). Instances starting together may do it at
   * the same time: each step is harmless twice. The positions need nothing: the process's entries commit
   * every partition they name, and the instances read them there. Batches it committed into its roll spool
   * (rollInterval) but not yet into the log cannot be rolled by several instances at once: the instance
   * refuses to start and says how to roll them.
   */
  async #adopt(single: string): Promise<void> {
    const leftovers = await this.#storage.list(stagingPrefix(single))
    // On S3 an orphan is a data file no entry names, not a staged one: looked for at an instance's first start.
    const orphans = !this.#storage.stagesData && this.#own === undefined
    if (leftovers.length === 0 && !orphans) return
    const last = await this.#newestOf(single)
    const find = (batchId: number) => this.#findOf(single, last, batchId)
    const spooled = leftovers.filter(
      (key) => key.startsWith(pendingKey(single)) || key.startsWith(spoolPrefix(single)),
    )
    for (const key of spooled) {
      const marker = /^(\d+)\.json$/.exec(key.slice(pendingKey(single).length))
      if (key.startsWith(pendingKey(single)) && marker && !(await find(Number(marker[1]))))
        throw new UsageError(
          `lake: ${this.description}: writer "${single}" (the pipeline as one process, with rollInterval) committed batch ${marker[1]} into its roll spool and stopped before rolling it into the table. Run the pipeline once as one process, lake({ …, scaleOut: false }) (it rolls them first), then scaled out.`,
        )
    }
    // Every marker is of a rolled batch: the process stopped before it cleaned them up.
    for (const key of spooled) await this.#storage.delete(key)
    await recoverStaging(this.#storage, single, find, (entry, keys) => this.#publish(entry, keys))
    if (orphans) await deleteOrphans(this.#storage, single, last?.batchId ?? -1)
  }

  /**
   * Reads the entries committed after the newest one known. A scaled-out instance indexes their partitions,
   * and finds none of its own writer: that would be another process running under this instance's name.
   * `attempted`: an entry whose creation was refused as if its version were taken; true when the entry there
   * is that one after all (a request the S3 client retried after the server had stored it), and then the
   * entries after it are left unread.
   */
  async #catchUp(attempted?: LogEntry): Promise<boolean> {
    for (;;) {
      const next = await this.#log.read((this.#latest?.version ?? -1) + 1)
      if (!next) return false
      // An entry reads back as written, its fields in the same order.
      if (
        attempted &&
        next.version === attempted.version &&
        JSON.stringify(next) === JSON.stringify(attempted)
      )
        return true
      if (this.#positions && next.writer === this.#writer)
        throw new SluiceError(
          'SLUICE_LAKE_WRITER_TWICE',
          `lake: ${this.description}: another process committed version ${next.version} as writer "${this.#writer}", which is this one: two instances of the pipeline run under one instance name. Give each its own (sluice run --workers names them; otherwise --instance, kafka({ instanceId }) or distinct host names).`,
          { domain: 'user' },
        )
      this.#positions?.observe(next)
      this.#latest = next
    }
  }

  async #loadLatest(): Promise<void> {
    const versions = await this.#log.versions()
    const last = versions.at(-1)
    this.#latest = last === undefined ? undefined : await this.#log.mustRead(last)
  }

  /** Renames a committed entry's staged files into place; `staged` (when given) are the staged keys present. */
  async #publish(entry: LogEntry, staged?: Set<string>): Promise<void> {
    if (!this.#storage.stagesData) return
    for (const file of entry.files) {
      const key = stagedKey(entry, file.path)
      if (staged && !staged.has(key)) continue
      try {
        await this.#storage.rename(key, file.path)
      } catch (error) {
        // Gone from staging and in place: another instance adopting the same leftovers renamed it first.
        if (!isNotFound(error) || (await this.#storage.size(file.path)) === undefined) throw error
      }
      staged?.delete(key)
    }
  }

  /** This writer's log entry holding `batchId`, if it committed one. */
  #find(batchId: number): Promise<LogEntry | undefined> {
    return this.#findOf(this.#writer, this.#own, batchId)
  }

  /** The entry of `writer` holding `batchId`, looking back from its newest entry `newest`. */
  async #findOf(
    writer: string,
    newest: LogEntry | undefined,
    batchId: number,
  ): Promise<LogEntry | undefined> {
    if (!newest || newest.batchId < batchId) return undefined
    if (covers(newest, batchId)) return newest
    for (let v = newest.version - 1; v >= 0; v--) {
      const entry = await this.#log.read(v)
      if (entry?.writer !== writer) continue
      if (covers(entry, batchId)) return entry
      if (entry.batchId < batchId) return undefined
    }
    return undefined
  }

  #exclusive<R>(fn: () => Promise<R>): Promise<R> {
    const next = this.#lock.then(() => {
      if (this.#failure !== undefined) {
        const failure = this.#failure
        this.#failure = undefined
        throw failure
      }
      return fn()
    })
    this.#lock = next.catch(() => {})
    return next
  }

  write(batch: OutputBatch<T>): Promise<void> {
    return this.#exclusive(() => this.#write(batch))
  }

  async #write(batch: OutputBatch<T>): Promise<void> {
    this.#staged = undefined
    this.#rejected = undefined
    if (batch.rows.length === 0) return
    const { groups, letters } = groupRows(batch.rows, {
      format: this.#format,
      partitionOf: this.#partitionOf,
      maxColumns: this.#maxColumns,
    })
    this.#rejected = { batch, letters }
    // A scaled-out instance is never asked to write a batch again (the runtime skips what the table has per
    // partition, see PartitionPositions), and its batch ids start again at 0 when its checkpoint is lost:
    // its ids go on past its last one instead, so that file names stay its own.
    const id = this.#positions ? Math.max(batch.batchId, (this.#own?.batchId ?? -1) + 1) : batch.batchId
    const nothing = { batchId: batch.batchId, id, committedEnd: undefined, committedIn: '' }
    if (groups.size === 0) {
      this.#staged = { ...nothing, files: [], spooled: [] }
      return
    }
    const committed = this.#positions ? undefined : await this.#find(batch.batchId)
    const pending = this.#spool?.find(batch.batchId)
    if (committed || pending) {
      this.#staged = {
        ...nothing,
        committedEnd: committed ? endOf(committed, batch.batchId) : pending?.end,
        committedIn: committed ? `version ${committed.version}` : 'the roll spool',
        files: [],
        spooled: [],
      }
      return
    }
    if (this.#rollMs !== undefined && this.#spool) {
      const spooled = await this.#spool.write(
        batch.batchId,
        groups as Map<string, { values: PartitionValues; rows: Row[] }>,
        this.#files.rowType,
      )
      this.#staged = { ...nothing, files: [], spooled }
      return
    }
    await this.#clearAttempt(id)
    const files: LogFile[] = []
    const dirKey = this.#storage.stagesData ? stagingPrefix(this.#writer, id) : undefined
    for (const [path, group] of groups) {
      const folder = path === '' ? '' : `${path}/`
      const prefix = `part-${id}-${shortHash(`${this.#writer}\n${path}`)}-`
      const written = await this.#files.write(
        this.#storage,
        dirKey ?? folder,
        prefix,
        group.rows as readonly Row[],
      )
      for (const file of written) {
        const name = file.key.slice(file.key.lastIndexOf('/') + 1)
        files.push({ path: `${folder}${name}`, partition: group.values, rows: file.rows, bytes: file.bytes })
      }
    }
    this.#staged = { ...nothing, files, spooled: [] }
  }

  rejected(batch: OutputBatch<T>): readonly DeadLetter[] {
    return this.#rejected?.batch === batch ? this.#rejected.letters : []
  }

  commit(batch: OutputBatch<T>, context: SinkCommitContext): Promise<void> {
    return this.#exclusive(() => this.#commit(batch, context))
  }

  async #commit(batch: OutputBatch<T>, context: SinkCommitContext): Promise<void> {
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
      if (staged.committedEnd) {
        if (!samePositions(staged.committedEnd, context.next))
          throw reusedBatch(this.description, this.#writer, batch.batchId, staged.committedIn)
      } else if (staged.files.length === 0 && staged.spooled.length === 0) {
        // Every row of the batch was refused: nothing to commit, as for a batch without rows.
      } else if (this.#rollMs !== undefined && this.#spool) {
        // Files stay under the target size and within maxColumns (also for the spooled batches together).
        if (
          this.#spool.wouldOverflow(staged.spooled, this.#target) ||
          (this.#format === 'parquet' && this.#spool.wouldPassColumns(staged.spooled, this.#maxColumns))
        )
          await this.#roll()
        await this.#spool.markPending({
          batchId: batch.batchId,
          end: context.next,
          time: Date.now(),
          files: staged.spooled,
        })
      } else if (this.#positions) {
        if (!context.expected) throw new Error('internal: a scaled-out commit without the expected positions')
        const { partitions, moved } = batchPartitions(
          context.records,
          context.next,
          context.heldPartitions ?? [],
        )
        // A held partition (a task run without records) keeps the position it has.
        const end: Record<string, number> = {}
        for (const p of partitions) {
          const position = moved[p] ?? context.expected[p]
          if (position !== undefined) end[p] = position
        }
        try {
          await this.#commitEntry(staged.id, staged.files, end, undefined, {
            partitions,
            expected: context.expected,
          })
        } catch (error) {
          // Fenced before its entry was created: the batch is abandoned, its files go now (abort() no longer
          // knows them, and on S3 the next batch ids pass this one's).
          if (error instanceof SinkFencedError) await this.#clearAttempt(staged.id, staged.files)
          throw error
        }
      } else {
        await this.#commitEntry(batch.batchId, staged.files, context.next)
      }
    }
    if (this.#rollMs !== undefined && this.#spool?.due(Date.now(), this.#rollMs, this.#target))
      await this.#roll()
    this.#arm()
  }

  /** Rolls the pending batches into data files and one log entry. */
  async #roll(): Promise<void> {
    const spool = this.#spool
    if (!spool || spool.pending.length === 0) return
    const result = (await spool.roll(this.#files)) as RollResult
    const first = result.batches[0]
    const last = result.batches.at(-1)
    if (!first || !last) return
    await this.#commitEntry(last.batchId, result.files, last.end, {
      firstBatchId: first.batchId,
      batches: result.batches.map((b) => ({ batchId: b.batchId, end: b.end })),
    })
    await spool.finish(result)
  }

  /** Sets a timer for the next roll by time, so an idle pipeline's spooled rows still become visible. */
  #arm(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    const at = this.#rollMs === undefined ? undefined : this.#spool?.dueAt(this.#rollMs)
    if (at === undefined) return
    this.#timer = setTimeout(
      () => {
        this.#exclusive(async () => {
          if (this.#rollMs !== undefined && this.#spool?.due(Date.now(), this.#rollMs, this.#target))
            await this.#roll()
          this.#arm()
        }).catch((error: unknown) => {
          this.#failure = error
        })
      },
      Math.max(0, at - Date.now()),
    )
    this.#timer.unref()
  }

  /**
   * Commits an entry as the version after the newest, reading the entries others committed meanwhile when
   * one took it first. `shared`: a scaled-out instance's batch, committing `partitions` only, and only when
   * no other writer committed one of them since this instance read it (PartitionPositions.check), checked
   * before each attempt.
   */
  async #commitEntry(
    batchId: number,
    files: readonly LogFile[],
    end: Positions,
    range?: Pick<LogEntry, 'firstBatchId' | 'batches'>,
    shared?: { readonly partitions: readonly string[]; readonly expected: Positions },
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (shared) this.#positions?.check(shared.partitions, shared.expected)
      const latest = this.#latest
      const entry: LogEntry = {
        version: latest ? latest.version + 1 : 0,
        timestamp: Date.now(),
        operation: 'append',
        format: this.#format,
        writer: this.#writer,
        batchId,
        end,
        ...(shared ? { partitions: shared.partitions } : {}),
        ...range,
        firstRow: latest ? latest.firstRow + latest.rows : 0,
        rows: files.reduce((n, f) => n + f.rows, 0),
        files,
      }
      if ((await this.#log.commit(entry)) || (await this.#catchUp(entry))) {
        this.#latest = entry
        this.#own = entry
        this.#positions?.committed(entry)
        await this.#publish(entry)
        return
      }
      // Another writer took the version (#catchUp read it): commit after it.
      if (attempt >= 20)
        throw new SluiceError(
          'SLUICE_LAKE_CONFLICT',
          `lake: ${this.description}: could not commit batch ${batchId}: other writers keep taking the next version.`,
          { domain: 'external', retryable: true },
        )
    }
  }

  abort(batch: OutputBatch<T>): Promise<void> {
    return this.#exclusive(async () => {
      const staged = this.#staged
      this.#staged = undefined
      if (staged && !staged.committedEnd && batch.rows.length > 0) {
        if (staged.spooled.length > 0) await this.#spool?.clear(batch.batchId)
        else await this.#clearAttempt(staged.id, staged.files)
      }
    })
  }

  /** Deletes what an earlier attempt at `batchId` wrote (staged files, or on S3 the files written in place). */
  async #clearAttempt(batchId: number, files: readonly LogFile[] = []): Promise<void> {
    for (const key of await this.#storage.list(stagingPrefix(this.#writer, batchId)))
      await this.#storage.delete(key)
    if (!this.#storage.stagesData) for (const file of files) await this.#storage.delete(file.path)
  }

  async hasCommitted(batch: { readonly batchId: number; readonly end: Positions }): Promise<boolean> {
    const entry = await this.#find(batch.batchId)
    const end = entry ? endOf(entry, batch.batchId) : this.#spool?.find(batch.batchId)?.end
    return end !== undefined && samePositions(end, batch.end)
  }

  /** Rolls what is pending (a batch job ends with every row visible), then lets go of DuckDB and the store. */
  async close(): Promise<void> {
    clearTimeout(this.#timer)
    this.#timer = undefined
    try {
      await this.#exclusive(() => this.#roll())
    } finally {
      await this.#files.close()
      if (!this.#options.storage) this.#storage.close?.()
    }
  }
}

function reusedBatch(description: string, writer: string, batchId: number, where: string): SluiceError {
  return new UsageError(
    `lake: ${description} already holds batch ${batchId} of writer "${writer}" (${where}) for other input: the pipeline's checkpoint was reset. Write to a new table or give lake({ writerId }) a new id.`,
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
  // lake() refused transforms ({ field, transform }) for these formats.
  const keys = partitionBy.filter((p) => typeof p === 'string')
  if (keys.length === 0) return undefined
  return (row) => {
    const out: Record<string, string | null> = {}
    for (const key of keys) out[key] = partitionString((row as Row)[key])
    return out
  }
}
