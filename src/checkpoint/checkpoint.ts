import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { Plan } from '../plan/nodes.ts'
import type { Positions } from '../runtime/source.ts'
import type { WatermarkState } from '../runtime/watermark-tracker.ts'
import type { StateStore } from '../state/keyed-state.ts'
import { writeFileAtomic, writeFileReplacing } from './atomic-file.ts'
import { CheckpointCorruptError, CheckpointIncompatibleError } from './errors.ts'
import { fingerprint, incompatibilities, type PlanFingerprint } from './fingerprint.ts'
import { OffsetsLog } from './offsets-log.ts'
import { StateFiles } from './state-files.ts'

/** Written before a batch is processed: exactly which input it covers and the time it runs under. */
export interface OffsetsEntry {
  readonly batchId: number
  readonly start: Positions
  readonly end: Positions
  /** Watermark in force for this batch; null for "none yet" (-Infinity). */
  readonly watermark: number | null
  readonly batchTime: number
}

/** Written with the batch's state, before the sink commits: event-time progress after the batch. */
interface AfterBatch {
  readonly batchId: number
  readonly eventTimes: WatermarkState['partitions']
}

export interface Recovery {
  /** The last batch whose results are committed in the checkpoint. */
  readonly lastCommitted: OffsetsEntry | undefined
  /** A batch planned but not committed in the checkpoint: the sink may or may not have committed it. */
  readonly pending: OffsetsEntry | undefined
}

const VERSION = 1

/**
 * The one owner of the commit protocol. For batch N:
 *   1. planBatch(N):   the offsets log records start and end positions, the watermark and batch time
 *                      (write-ahead; offsets.log, format in offsets-log.ts);
 *   2. the runtime processes N and writes its state with saveState(N) (delta + event-time progress);
 *   3. the sink writes and commits N (with the source positions, where it can);
 *   4. commitBatch(N): commits/N marks N done.
 * On restart: N committed → restore state N, continue at end(N). N planned but not committed → if the sink
 * already committed N (it holds the positions), restore state N and mark it; otherwise restore N−1 and replay
 * exactly [start(N), end(N)) with N's watermark and time, so the replay produces the same output.
 * Step 1 is one frame appended to offsets.log and fdatasync'ed; step 2 is written atomically and durably
 * (temp file, fsync, rename, fsync dir): the sink commits on the strength of them. Checkpoints written
 * before the log (one offsets/N.json per batch) are still read; their new batches go to the log. Step 4 is only a marker whose name counts, written without fsync: a power cut
 * may lose it, and recovery then treats N as pending, which step 3's sink answers (or an at-least-once sink
 * replays with the same batch id), so the marker's durability buys nothing but a few milliseconds a batch.
 * A plan with no state and no event time (parse, map, filter, …) writes no step-2 file at all.
 */
export class Checkpoint {
  readonly location: string
  readonly #state: StateFiles
  readonly #stateless: boolean
  readonly #log: OffsetsLog<OffsetsEntry>

  private constructor(location: string, stateless: boolean, log: OffsetsLog<OffsetsEntry>) {
    this.location = location
    this.#state = new StateFiles(location)
    this.#stateless = stateless
    this.#log = log
  }

  /** Opens (creating) a checkpoint and checks the plan against the one that wrote it. */
  static async open(location: string, plan: Plan): Promise<Checkpoint> {
    const dir = resolve(location)
    await mkdir(join(dir, 'offsets'), { recursive: true })
    await mkdir(join(dir, 'commits'), { recursive: true })
    const metadataFile = join(dir, 'metadata.json')
    const current = fingerprint(plan)
    if (existsSync(metadataFile)) {
      const stored = (await readJson(metadataFile)) as { version: number; fingerprint: PlanFingerprint }
      if (stored.version !== VERSION)
        throw new CheckpointCorruptError(`Checkpoint ${dir} has unknown version ${stored.version}.`)
      const differences = incompatibilities(stored.fingerprint, current)
      if (differences.length > 0) throw new CheckpointIncompatibleError(dir, differences)
    } else {
      await writeFileAtomic(
        metadataFile,
        `${JSON.stringify({ version: VERSION, createdAt: new Date().toISOString(), fingerprint: current }, null, 2)}\n`,
      )
    }
    const log = await OffsetsLog.open<OffsetsEntry>(join(dir, 'offsets.log'))
    return new Checkpoint(dir, isStateless(plan), log)
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

  async saveState(
    batchId: number,
    states: ReadonlyMap<string, StateStore>,
    eventTimes: WatermarkState['partitions'],
  ) {
    if (this.#stateless) return
    await this.#state.save(batchId, states)
    const after: AfterBatch = { batchId, eventTimes }
    await mkdir(join(this.location, 'progress'), { recursive: true })
    await writeFileAtomic(join(this.location, 'progress', `${batchId}.json`), `${JSON.stringify(after)}\n`)
  }

  /** Loads operator state and event-time progress as they were after `batchId`. */
  async loadState(
    batchId: number,
    states: ReadonlyMap<string, StateStore>,
  ): Promise<WatermarkState['partitions']> {
    await this.#state.load(batchId, states)
    const file = join(this.location, 'progress', `${batchId}.json`)
    if (!existsSync(file)) return {}
    return ((await readJson(file)) as AfterBatch).eventTimes
  }

  /** True when saveState(batchId) completed (the state a sink-committed batch needs is there). */
  hasState(batchId: number): boolean {
    return this.#stateless || existsSync(join(this.location, 'progress', `${batchId}.json`))
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
    for (const folder of ['offsets', 'commits', 'progress']) {
      const dir = join(this.location, folder)
      if (!existsSync(dir)) continue
      for (const f of await readdir(dir))
        if (Number.parseInt(f, 10) < oldest) await rm(join(dir, f), { force: true })
    }
    await this.#state.prune(oldest)
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

export function watermarkFromLog(value: number | null): number {
  return value === null ? Number.NEGATIVE_INFINITY : value
}
