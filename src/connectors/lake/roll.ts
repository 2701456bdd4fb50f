import { deserialize, serialize } from 'node:v8'
import type { RowType } from '../../plan/row-type.ts'
import type { Positions } from '../../runtime/source.ts'
import type { DataFileWriter } from './data-files.ts'
import { type LogFile, pendingKey, spoolPrefix, stagingPrefix } from './log.ts'
import { type PartitionValues, shortHash } from './partition.ts'
import { FileColumns } from './rows.ts'
import { type ColumnStats, columnStats, columnsFromStats, mergeColumnStats } from './schema.ts'
import type { LakeStorage } from './storage.ts'

type Row = Readonly<Record<string, unknown>>

/** The rows of one partition of one pending batch, spooled with v8 serialization (Dates, bigints kept). */
export interface SpoolFile {
  readonly key: string
  /** The partition folder ("" when unpartitioned) and its values. */
  readonly folder: string
  readonly partition: PartitionValues
  readonly rows: number
  readonly bytes: number
  readonly stats: readonly ColumnStats[]
}

/** A batch committed for the runtime whose rows wait in the spool for the next roll. */
export interface PendingBatch {
  readonly batchId: number
  readonly end: Positions
  /** When it was committed (ms since the epoch): the roll interval counts from the oldest pending batch. */
  readonly time: number
  readonly files: readonly SpoolFile[]
}

/** A finished roll: the data files to commit as one log entry covering `batches`. */
export interface RollResult {
  readonly batches: readonly PendingBatch[]
  readonly files: readonly LogFile[]
  readonly spoolBytes: number
}

/**
 * Rolling (`rollInterval`): batches are committed for the runtime by a durable marker
 * `.sluice-staging/<writer>/pending/<batchId>.json` (created atomically with putIfAbsent) once their rows are
 * spooled under `.sluice-staging/<writer>/spool/<batchId>/`; a roll merges the spooled rows of every pending
 * batch into one set of data files per partition and the sink commits them as one log entry covering the
 * batch range. Data becomes visible at roll time, whole, never in small pieces.
 */
export class Spool {
  readonly #storage: LakeStorage
  readonly #writer: string
  #pending: PendingBatch[] = []
  /** Output bytes per spooled byte, learnt from the last roll (first guess: 1, so first files are small). */
  #ratio = 1

  constructor(storage: LakeStorage, writer: string) {
    this.#storage = storage
    this.#writer = writer
  }

  get pending(): readonly PendingBatch[] {
    return this.#pending
  }

  find(batchId: number): PendingBatch | undefined {
    return this.#pending.find((b) => b.batchId === batchId)
  }

  /** Recovery: the pending markers (batches committed for the runtime, not rolled yet), in batch order. */
  async load(rolled: (batchId: number) => Promise<boolean>): Promise<void> {
    const prefix = pendingKey(this.#writer)
    const markers: PendingBatch[] = []
    for (const key of await this.#storage.list(prefix)) {
      const match = /^(\d+)\.json$/.exec(key.slice(prefix.length))
      const bytes = match ? await this.#storage.get(key) : undefined
      if (!match || !bytes) {
        // A temporary file of an interrupted putIfAbsent.
        await this.#storage.delete(key)
        continue
      }
      const batch = JSON.parse(Buffer.from(bytes).toString('utf8')) as PendingBatch
      // Rolled already (a crash after the roll's log entry, before this cleanup): forget it.
      if (await rolled(batch.batchId)) await this.#forget(batch)
      else markers.push(batch)
    }
    this.#pending = markers.sort((a, b) => a.batchId - b.batchId)
    // Spool folders without a marker belong to batches that never committed: orphans.
    const spool = spoolPrefix(this.#writer)
    for (const key of await this.#storage.list(spool)) {
      const batchId = Number(key.slice(spool.length).split('/')[0])
      if (!this.find(batchId)) await this.#storage.delete(key)
    }
  }

  /** Spools a batch's rows, one file per partition (the batch is not committed by this). */
  async write(
    batchId: number,
    groups: ReadonlyMap<string, { readonly values: PartitionValues; readonly rows: readonly Row[] }>,
    rowType?: RowType,
  ): Promise<SpoolFile[]> {
    await this.clear(batchId)
    const out: SpoolFile[] = []
    for (const [folder, group] of groups) {
      const key = `${spoolPrefix(this.#writer, batchId)}${shortHash(folder)}.v8`
      const bytes = serialize(group.rows)
      await this.#storage.put(key, bytes)
      out.push({
        key,
        folder,
        partition: group.values,
        rows: group.rows.length,
        bytes: bytes.length,
        stats: columnStats(group.rows, rowType),
      })
    }
    return out
  }

  /** Deletes what a failed attempt at `batchId` spooled. */
  async clear(batchId: number): Promise<void> {
    for (const key of await this.#storage.list(spoolPrefix(this.#writer, batchId)))
      await this.#storage.delete(key)
  }

  /** The batch's commit point for the runtime: its marker, created whole or not at all. */
  async markPending(batch: PendingBatch): Promise<void> {
    const created = await this.#storage.putIfAbsent(
      pendingKey(this.#writer, batch.batchId),
      Buffer.from(`${JSON.stringify(batch)}\n`),
    )
    if (!created) throw new Error(`lake: batch ${batch.batchId} is pending already`)
    this.#pending.push(batch)
  }

  /** Whether a roll is due: the oldest pending batch is `intervalMs` old, or a partition reached the target. */
  due(now: number, intervalMs: number, targetFileBytes: number): boolean {
    const oldest = this.#pending[0]
    if (!oldest) return false
    if (now - oldest.time >= intervalMs) return true
    const bytes = new Map<string, number>()
    for (const batch of this.#pending) {
      for (const file of batch.files) {
        const total = (bytes.get(file.folder) ?? 0) + file.bytes
        if (total * this.#ratio >= targetFileBytes) return true
        bytes.set(file.folder, total)
      }
    }
    return false
  }

  /**
   * Whether adding `files` (a batch about to become pending) would make a partition's next file larger
   * than the target: then the pending batches roll first, so files stay near the target but not above it.
   */
  wouldOverflow(files: readonly SpoolFile[], targetFileBytes: number): boolean {
    if (this.#pending.length === 0) return false
    const bytes = new Map<string, number>()
    for (const batch of this.#pending)
      for (const file of batch.files) bytes.set(file.folder, (bytes.get(file.folder) ?? 0) + file.bytes)
    return files.some((f) => ((bytes.get(f.folder) ?? 0) + f.bytes) * this.#ratio > targetFileBytes)
  }

  /**
   * Whether adding `files` would give a partition's next file more than `maxColumns` columns, or two that
   * differ only in case (each batch was checked on its own): then the pending batches roll first.
   */
  wouldPassColumns(files: readonly SpoolFile[], maxColumns: number): boolean {
    if (this.#pending.length === 0) return false
    for (const file of files) {
      const columns = new FileColumns(maxColumns)
      const names: Record<string, null> = {}
      for (const batch of this.#pending)
        for (const pending of batch.files)
          if (pending.folder === file.folder) for (const c of pending.stats) names[c.name] = null
      if (columns.admit(names) !== undefined) return true
      const more: Record<string, null> = {}
      for (const c of file.stats) more[c.name] = null
      if (columns.admit(more) !== undefined) return true
    }
    return false
  }

  /** When the oldest pending batch becomes due by time (ms since the epoch), if any is pending. */
  dueAt(intervalMs: number): number | undefined {
    const oldest = this.#pending[0]
    return oldest ? oldest.time + intervalMs : undefined
  }

  /**
   * Merges every pending batch's spooled rows into data files, per partition, named after the first batch:
   * staged under `.sluice-staging/<writer>/<first>/` where the store renames, else under their final keys.
   */
  async roll(files: DataFileWriter): Promise<RollResult | undefined> {
    const batches = [...this.#pending]
    const first = batches[0]
    if (!first) return undefined
    const byFolder = new Map<string, SpoolFile[]>()
    for (const batch of batches) {
      for (const file of batch.files) {
        const list = byFolder.get(file.folder) ?? []
        list.push(file)
        byFolder.set(file.folder, list)
      }
    }
    const out: LogFile[] = []
    let spoolBytes = 0
    let written = 0
    const staging = this.#storage.stagesData ? stagingPrefix(this.#writer, first.batchId) : undefined
    for (const [folder, spooled] of byFolder) {
      const dir = folder === '' ? '' : `${folder}/`
      const prefix = `part-${first.batchId}-${shortHash(`${this.#writer}\n${folder}`)}-`
      const columns = columnsFromStats(
        mergeColumnStats(spooled.map((s) => ({ stats: s.stats, rows: s.rows }))),
      )
      const encoded = await files.write(this.#storage, staging ?? dir, prefix, this.#read(spooled), columns)
      for (const file of encoded) {
        const name = file.key.slice(file.key.lastIndexOf('/') + 1)
        out.push({
          path: `${dir}${name}`,
          partition: spooled[0]?.partition ?? {},
          rows: file.rows,
          bytes: file.bytes,
        })
        written += file.bytes
      }
      for (const s of spooled) spoolBytes += s.bytes
    }
    if (spoolBytes > 0 && written > 0) this.#ratio = written / spoolBytes
    return { batches, files: out, spoolBytes }
  }

  async *#read(spooled: readonly SpoolFile[]): AsyncIterable<readonly Row[]> {
    for (const file of spooled) {
      const bytes = await this.#storage.get(file.key)
      if (!bytes) throw new Error(`lake: spooled rows ${file.key} are missing`)
      yield deserialize(bytes) as Row[]
    }
  }

  /** After the roll's log entry: drops the markers and spooled rows of the rolled batches. */
  async finish(result: RollResult): Promise<void> {
    const rolled = new Set(result.batches.map((b) => b.batchId))
    this.#pending = this.#pending.filter((b) => !rolled.has(b.batchId))
    for (const batch of result.batches) await this.#forget(batch)
  }

  async #forget(batch: PendingBatch): Promise<void> {
    // The marker last: while it exists, recovery still knows the batch.
    for (const file of batch.files) await this.#storage.delete(file.key)
    await this.#storage.delete(pendingKey(this.#writer, batch.batchId))
  }
}
