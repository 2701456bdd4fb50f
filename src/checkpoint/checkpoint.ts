import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { Plan } from '../plan/nodes.ts'
import type { Positions } from '../runtime/source.ts'
import type { WatermarkState } from '../runtime/watermark-tracker.ts'
import { STATE_FORMAT, StateDatabase, type StateStore } from '../state/state-database.ts'
import { writeFileAtomic, writeFileReplacing } from './atomic-file.ts'
import { CheckpointLock } from './checkpoint-lock.ts'
import { CheckpointCorruptError, CheckpointIncompatibleError } from './errors.ts'
import { fingerprint, incompatibilities, type PlanFingerprint } from './fingerprint.ts'
import { inverted, positionalIds, withIds } from './legacy-ids.ts'
import { OffsetsLog } from './offsets-log.ts'

/** Written before a batch is processed: exactly which input it covers and the time it runs under. */
export interface OffsetsEntry {
  readonly batchId: number
  readonly start: Positions
  readonly end: Positions
  /**
   * Watermark in force for this batch: null for "none yet" (-Infinity), 'end' once a bounded input ended
   * (+Infinity: every window is final). JSON carries neither infinity.
   */
  readonly watermark: number | null | 'end'
  readonly batchTime: number
}

export interface Recovery {
  /** The last batch whose results are committed in the checkpoint. */
  readonly lastCommitted: OffsetsEntry | undefined
  /** A batch planned but not committed in the checkpoint: the sink may or may not have committed it. */
  readonly pending: OffsetsEntry | undefined
}

/** metadata.json's format: 2 since step ids are stable (kind and ordinal, or the user's name; plan/step-id.ts). */
const VERSION = 2
/** The format before: unnamed steps had positional ids (legacy-ids.ts); opened and upgraded to VERSION. */
const POSITIONAL_IDS_VERSION = 1

interface Metadata {
  readonly version: number
  readonly createdAt?: string
  readonly fingerprint: PlanFingerprint
}

/**
 * The one owner of the commit protocol. For batch N:
 *   1. planBatch(N):   the offsets log records start and end positions, the watermark and batch time
 *                      (write-ahead; offsets.log, format in offsets-log.ts);
 *   2. the runtime processes N; its state changes go into the state store's open transaction;
 *   3. the sink writes and commits N (with the source positions, where it can);
 *   4. saveState(N) commits N's state (every operator's changed keys and the event-time progress, one
 *                      SQLite transaction, see StateDatabase), then commitBatch(N) marks N done (commits/N).
 * On restart: N committed → restore state N, continue at end(N). N planned but not committed:
 *   - the store holds N's state → the sink committed N before it: mark N;
 *   - the sink says it committed N (it holds the positions) → replay N from state N−1 without writing it
 *     (the replay rebuilds N's state), then save and mark N;
 *   - otherwise restore N−1 and replay exactly [start(N), end(N)) with N's watermark and time, so the replay
 *     produces the same output.
 * Step 1 is one frame appended to offsets.log and fdatasync'ed before the sink commits (a stateless plan
 * whose sink stores its position only waits for it before step 4: a lost entry finds the sink ahead on
 * restart). Step 4's state commit fsyncs the store's write-ahead log; the marker is only a file whose name
 * counts, written without fsync: a power cut may lose it, and recovery then finds N pending, which the rules
 * above answer (an at-least-once sink that cannot tell replays with the same batch id). Checkpoints written
 * before the log (one offsets/N.json per batch) are still read; their new batches go to the log. A plan with
 * no state and no event time (parse, map, filter, …) has no state store. One run at a time holds a
 * checkpoint (CheckpointLock, lock.db).
 */
export class Checkpoint {
  readonly location: string
  /** The state store (`state.db`); undefined for a plan without state. */
  readonly stateDatabase: StateDatabase | undefined
  readonly #log: OffsetsLog<OffsetsEntry>

  readonly #lock: CheckpointLock

  private constructor(
    location: string,
    lock: CheckpointLock,
    database: StateDatabase | undefined,
    log: OffsetsLog<OffsetsEntry>,
  ) {
    this.location = location
    this.#lock = lock
    this.stateDatabase = database
    this.#log = log
  }

  /**
   * Opens (creating) a checkpoint and checks the plan against the one that wrote it. With `state: false` the
   * checkpoint keeps no state store even for a stateful plan: its state lives elsewhere (per-task stores of a
   * scaled-out run, see runtime/task.ts).
   */
  static async open(location: string, plan: Plan, options: { state?: boolean } = {}): Promise<Checkpoint> {
    const dir = resolve(location)
    await mkdir(join(dir, 'offsets'), { recursive: true })
    await mkdir(join(dir, 'commits'), { recursive: true })
    const lock = CheckpointLock.acquire(join(dir, 'lock.db'), dir)
    try {
      return await Checkpoint.#openLocked(dir, lock, plan, options.state ?? true)
    } catch (error) {
      lock.release()
      throw error
    }
  }

  static async #openLocked(
    dir: string,
    lock: CheckpointLock,
    plan: Plan,
    keepsState: boolean,
  ): Promise<Checkpoint> {
    const metadataFile = join(dir, 'metadata.json')
    const current = fingerprint(plan)
    let stored: Metadata | undefined
    if (existsSync(metadataFile)) {
      stored = (await readJson(metadataFile)) as Metadata
      const differences =
        stored.version === VERSION
          ? incompatibilities(stored.fingerprint, current)
          : stored.version === POSITIONAL_IDS_VERSION
            ? incompatibilities(stored.fingerprint, withIds(current, inverted(positionalIds(plan))))
            : undefined
      if (differences === undefined)
        throw new CheckpointCorruptError(`Checkpoint ${dir} has unknown version ${stored.version}.`)
      if (differences.length > 0) throw new CheckpointIncompatibleError(dir, differences)
    } else {
      await writeMetadata(metadataFile, new Date().toISOString(), current)
    }
    const log = await OffsetsLog.open<OffsetsEntry>(join(dir, 'offsets.log'))
    const upgrade = stored?.version === POSITIONAL_IDS_VERSION
    if (isStateless(plan) || !keepsState) {
      if (upgrade) await writeMetadata(metadataFile, stored?.createdAt, current)
      return new Checkpoint(dir, lock, undefined, log)
    }
    const databaseFile = join(dir, 'state.db')
    if (!existsSync(databaseFile) && (existsSync(join(dir, 'state')) || existsSync(join(dir, 'progress'))))
      throw new CheckpointCorruptError(
        `The checkpoint in ${dir} keeps its state in JSON files (state/, progress/), written by an earlier Sluice; this ` +
          'version keeps state in state.db and cannot read them. Finish that run with the earlier version, or ' +
          'start from a new checkpoint location (state and progress start over).',
      )
    const database = StateDatabase.open(databaseFile)
    try {
      // Format 1 → 2: the state rows move to the stable ids first (one transaction that marks the store), then
      // metadata.json says 2. A crash between the two finds a marked store and only rewrites the metadata.
      if (upgrade) {
        if (database.format < STATE_FORMAT) database.refileOperators(positionalIds(plan))
        await writeMetadata(metadataFile, stored?.createdAt, current)
      } else if (database.format < STATE_FORMAT) {
        throw new CheckpointCorruptError(
          `The state store ${databaseFile} files its state under the step ids of an earlier Sluice, but ${metadataFile} ` +
            'has the ids of this one: the store was copied from another checkpoint. Start from a new checkpoint location.',
        )
      }
    } catch (error) {
      database.close()
      throw error
    }
    return new Checkpoint(dir, lock, database, log)
  }

  async recover(): Promise<Recovery> {
    const planned = [...new Set([...(await this.#ids('offsets')), ...this.#log.ids()])].sort((a, b) => a - b)
    const committed = new Set(await this.#ids('commits'))
    const last = planned.at(-1)
    if (last === undefined) return { lastCommitted: undefined, pending: undefined }
    if (committed.has(last)) return { lastCommitted: await this.offsets(last), pending: undefined }
    const previous = [...committed].filter((id) => id < last).sort((a, b) => b - a)[0]
    return {
      lastCommitted: previous === undefined ? undefined : await this.offsets(previous),
      pending: await this.offsets(last),
    }
  }

  async offsets(batchId: number): Promise<OffsetsEntry> {
    const logged = this.#log.get(batchId)
    if (logged) return logged
    const raw = (await readJson(join(this.location, 'offsets', `${batchId}.json`))) as OffsetsEntry
    return raw
  }

  async planBatch(entry: OffsetsEntry): Promise<void> {
    await this.#log.append(entry)
  }

  /** Commits batch `batchId`'s state (its open transaction in the store) with its event-time progress: after the sink committed the batch. */
  saveState(
    batchId: number,
    states: ReadonlyMap<string, StateStore>,
    eventTimes: WatermarkState['partitions'],
  ): void {
    this.stateDatabase?.commit(batchId, states.values(), eventTimes)
  }

  /** Brings operator state to where it was after `batchId`; returns the event-time progress of then. */
  loadState(batchId: number, states: ReadonlyMap<string, StateStore>): WatermarkState['partitions'] {
    if (!this.stateDatabase) return {}
    const eventTimes = this.stateDatabase.restore(batchId)
    for (const state of states.values()) state.afterRestore()
    return eventTimes
  }

  /** True when the plan keeps state and saveState(batchId) completed (so the sink committed the batch). */
  hasState(batchId: number): boolean {
    return this.stateDatabase !== undefined && this.stateDatabase.latestBatch === batchId
  }

  close(): void {
    this.stateDatabase?.close()
    this.#lock.release()
  }

  /**
   * The offsets entries of the batches the sink committed (up to `lastCommitted`) after the state store's
   * newest state: recovery replays them without writing to rebuild the state (the store commits about once a
   * second, the sink every batch). Empty for a plan without state.
   */
  async committedSinceState(lastCommitted: number): Promise<OffsetsEntry[]> {
    if (!this.stateDatabase) return []
    const saved = this.stateDatabase.latestBatch ?? -1
    if (saved > lastCommitted)
      throw new CheckpointCorruptError(
        `The state store of ${this.location} holds batch ${saved}, but the checkpoint's last batch is ${lastCommitted}: ` +
          'the offsets log or commit markers were removed. Start from a new checkpoint location.',
      )
    const entries: OffsetsEntry[] = []
    for (let id = saved + 1; id <= lastCommitted; id++) {
      entries.push(
        await this.offsets(id).catch((error: unknown) => {
          throw new CheckpointCorruptError(
            `Batch ${id} of ${this.location} is needed to rebuild state after batch ${saved}, but its offsets entry is gone.`,
            error,
          )
        }),
      )
    }
    return entries
  }

  async commitBatch(batchId: number): Promise<void> {
    await writeFileReplacing(
      join(this.location, 'commits', `${batchId}.json`),
      `${JSON.stringify({ batchId })}\n`,
    )
  }

  /** Keeps the logs of the last `retain` batches (and the state they need). */
  async prune(lastCommitted: number, retain = 20): Promise<void> {
    const oldest = lastCommitted - retain
    if (oldest <= 0) return
    for (const folder of ['offsets', 'commits']) {
      const dir = join(this.location, folder)
      if (!existsSync(dir)) continue
      for (const f of await readdir(dir))
        if (Number.parseInt(f, 10) < oldest) await rm(join(dir, f), { force: true })
    }
    await this.#log.prune(oldest)
  }

  async #ids(folder: string): Promise<number[]> {
    const files = await readdir(join(this.location, folder))
    return files
      .filter((f) => /^\d+\.json$/.test(f))
      .map((f) => Number.parseInt(f, 10))
      .sort((a, b) => a - b)
  }
}

async function writeMetadata(file: string, createdAt: string | undefined, fingerprint: PlanFingerprint) {
  const metadata = { version: VERSION, createdAt: createdAt ?? new Date().toISOString(), fingerprint }
  await writeFileAtomic(file, `${JSON.stringify(metadata, null, 2)}\n`)
}

async function readJson(file: string): Promise<unknown> {
  const text = await readFile(file, 'utf8')
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new CheckpointCorruptError(`Checkpoint file ${file} is not valid JSON.`, error)
  }
}

/** Steps that keep nothing between batches; any other kind (windows, dedupe, watermarks, …) has state. */
const STATELESS_KINDS: ReadonlySet<string> = new Set([
  'source',
  'parse',
  'map',
  'filter',
  'flatMap',
  'keyBy',
  'join',
  'sink',
])

function isStateless(plan: Plan): boolean {
  return plan.nodes.every((node) => STATELESS_KINDS.has(node.kind))
}

export function watermarkFromLog(value: number | null | 'end'): number {
  if (value === null) return Number.NEGATIVE_INFINITY
  return value === 'end' ? Number.POSITIVE_INFINITY : value
}

export function watermarkToLog(watermark: number): number | null | 'end' {
  if (watermark === Number.POSITIVE_INFINITY) return 'end'
  return Number.isFinite(watermark) ? watermark : null
}
