import { createReadStream, existsSync } from 'node:fs'
import { mkdir, readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { StateChanges, StateStore } from '../state/keyed-state.ts'
import { writeLinesAtomic } from './atomic-file.ts'
import { CheckpointCorruptError } from './errors.ts'

/**
 * State snapshots per batch, in the spirit of Spark's HDFS state store: each batch writes a delta file of
 * the keys it changed, and every `snapshotEvery` batches a full snapshot. Restoring batch N reads the newest
 * snapshot at or before N, then the deltas after it. Files are JSON lines: {"k": key, "v": value} sets a key,
 * {"d": key} deletes one.
 */
export class StateFiles {
  readonly #dir: string
  readonly #snapshotEvery: number

  constructor(checkpointDir: string, snapshotEvery = 10) {
    this.#dir = join(checkpointDir, 'state')
    this.#snapshotEvery = snapshotEvery
  }

  async save(batchId: number, states: ReadonlyMap<string, StateStore>): Promise<void> {
    for (const [id, state] of states) {
      const dir = join(this.#dir, id)
      await mkdir(dir, { recursive: true })
      const changes = state.drainChanges()
      await writeLinesAtomic(join(dir, `${batchId}.delta`), deltaLines(changes))
      if (batchId % this.#snapshotEvery === 0) {
        await writeLinesAtomic(join(dir, `${batchId}.snapshot`), snapshotLines(state))
      }
    }
  }

  /** Loads every operator's state as of `batchId` (after that batch). */
  async load(batchId: number, states: ReadonlyMap<string, StateStore>): Promise<void> {
    for (const [id, state] of states) {
      const dir = join(this.#dir, id)
      const files = existsSync(dir) ? await readdir(dir) : []
      const snapshots = files
        .filter((f) => f.endsWith('.snapshot'))
        .map((f) => Number.parseInt(f, 10))
        .filter((n) => n <= batchId)
        .sort((a, b) => b - a)
      const base = snapshots[0]
      const entries = new Map<string, unknown>()
      if (base !== undefined) await this.#apply(join(dir, `${base}.snapshot`), entries)
      const deltas = files
        .filter((f) => f.endsWith('.delta'))
        .map((f) => Number.parseInt(f, 10))
        .filter((n) => n <= batchId && (base === undefined || n > base))
        .sort((a, b) => a - b)
      for (const n of deltas) await this.#apply(join(dir, `${n}.delta`), entries)
      state.load(entries)
    }
  }

  /** Removes files no restore at or after `oldestNeeded` can use. */
  async prune(oldestNeeded: number): Promise<void> {
    if (!existsSync(this.#dir)) return
    for (const id of await readdir(this.#dir)) {
      const dir = join(this.#dir, id)
      const files = await readdir(dir)
      const base = files
        .filter((f) => f.endsWith('.snapshot'))
        .map((f) => Number.parseInt(f, 10))
        .filter((n) => n <= oldestNeeded)
        .sort((a, b) => b - a)[0]
      if (base === undefined) continue
      for (const f of files) {
        const n = Number.parseInt(f, 10)
        if (n < base) await rm(join(dir, f), { force: true })
      }
    }
  }

  async #apply(file: string, entries: Map<string, unknown>): Promise<void> {
    const lines = createInterface({
      input: createReadStream(file, 'utf8'),
      crlfDelay: Number.POSITIVE_INFINITY,
    })
    let n = 0
    for await (const line of lines) {
      n++
      if (!line) continue
      let parsed: unknown
      try {
        parsed = JSON.parse(line)
      } catch (error) {
        throw new CheckpointCorruptError(`State file ${file} line ${n} is not valid JSON.`, error)
      }
      const entry = parsed as { k?: string; v?: unknown; d?: string }
      if (entry.d !== undefined) entries.delete(entry.d)
      else if (entry.k !== undefined) entries.set(entry.k, entry.v)
      else throw new CheckpointCorruptError(`State file ${file} line ${n} is neither a set nor a delete.`)
    }
  }
}

function* deltaLines(changes: StateChanges): Generator<string> {
  for (const [k, v] of changes.upserts) yield JSON.stringify({ k, v })
  for (const d of changes.deletes) yield JSON.stringify({ d })
}

function* snapshotLines(state: StateStore): Generator<string> {
  for (const [k, v] of state.encodedEntries()) yield JSON.stringify({ k, v })
}
