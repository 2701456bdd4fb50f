import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after } from 'node:test'
import { GrowingTopicReader } from '../helpers/instances.ts'

/**
 * Several instances of one stateless pipeline share its input's partitions (one consumer group, cooperative
 * rebalancing, a transactional producer per instance). Whatever instances join, die or hang, every input is
 * written once: the output is compared by content with the input.
 */

export const PARTITIONS = 12

export const dirs: string[] = []
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-scale-'))
  dirs.push(dir)
  return dir
}

/** Reads the committed output (read_committed) as it grows: ids in order of arrival, and who wrote them. */
export class OutputReader {
  readonly ids: number[] = []
  readonly writers = new Map<string, number>()
  /** Who wrote each id (the last writer when written twice). */
  readonly writerOf = new Map<number, string>()
  readonly #topic: GrowingTopicReader

  constructor(topic: string) {
    this.#topic = new GrowingTopicReader(topic, (r) => {
      const row = JSON.parse(r.value!.toString()) as { id: number; by: string }
      this.ids.push(row.id)
      this.writerOf.set(row.id, row.by)
      this.writers.set(row.by, (this.writers.get(row.by) ?? 0) + 1)
    })
  }

  readThrough(end: ReadonlyMap<string, bigint>): boolean {
    return this.#topic.readThrough(end)
  }

  close(): Promise<void> {
    return this.#topic.close()
  }
}

/** Per partition: who wrote how many, and the offsets missing (first, last, count). */
export function perPartition(reader: OutputReader, n: number): Record<number, unknown> {
  const out: Record<number, { by: Record<string, number>; missing: number[]; missingCount: number }> = {}
  for (let id = 0; id < n; id++) {
    const p = id % PARTITIONS
    out[p] ??= { by: {}, missing: [], missingCount: 0 }
    const by = reader.writerOf.get(id)
    if (by === undefined) {
      const offset = Math.floor(id / PARTITIONS)
      if (out[p].missingCount === 0) out[p].missing.push(offset)
      out[p].missingCount++
      out[p].missing[1] = offset
    } else out[p].by[by] = (out[p].by[by] ?? 0) + 1
  }
  return out
}

/** Every id of [0, n) exactly once. */
export function assertExactlyOnce(ids: readonly number[], n: number): void {
  const seen = new Set<number>()
  const duplicates: number[] = []
  for (const id of ids) {
    if (seen.has(id)) duplicates.push(id)
    seen.add(id)
  }
  assert.deepEqual(duplicates.slice(0, 10), [], `${duplicates.length} duplicates`)
  const missing: number[] = []
  for (let id = 0; id < n && missing.length < 10; id++) if (!seen.has(id)) missing.push(id)
  assert.deepEqual(missing, [], 'every input written')
  assert.equal(ids.length, n)
}

/** A row the stateless fixture writes into a table (PIPELINE=stateless-mysql): the input's id and key, and who wrote it. */
export interface IdRow {
  readonly id: number
  readonly key: string
  readonly by: string
}

/**
 * Every input of [0, n) exactly once among `rows`, by content (its key as produceIds made it); returns how
 * many rows each instance wrote.
 */
export function assertRowsExactlyOnce(rows: readonly IdRow[], n: number): Map<string, number> {
  assertExactlyOnce(
    rows.map((r) => Number(r.id)),
    n,
  )
  const wrong = rows.filter((r) => r.key !== `k${Number(r.id) % 50}`)
  assert.deepEqual(wrong.slice(0, 10), [], 'each row holds its input')
  const writers = new Map<string, number>()
  for (const r of rows) writers.set(r.by, (writers.get(r.by) ?? 0) + 1)
  return writers
}
