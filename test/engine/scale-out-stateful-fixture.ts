import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after } from 'node:test'
import { KafkaProducer } from '../../src/connectors/kafka/producer.ts'
import { GrowingTopicReader } from '../helpers/instances.ts'
import { brokers } from '../helpers/kafka.ts'

/**
 * A stateful pipeline (dedupe, then per-record-key 10-second counts) scaled out over several instances: its
 * keyed state moves with its partitions through changelog topics. Whatever instances join, die, restart with
 * or without their local state, every window is emitted once with the count of its distinct events, as an
 * independent reference computed from the input says.
 */

export const PARTITIONS = 12
export const KEYS = 60
/** Event time of event i: 20 ms apart, so a 10-second window of one key holds about 8 events. */
export const T0 = Date.UTC(2026, 0, 1)
export const STEP_MS = 20

export const dirs: string[] = []
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

/** A window row as a database returns it: `window_start` a Date, ISO text or SQL DATETIME text (UTC). */
export interface WindowRow {
  readonly key: string
  readonly window_start: string | Date
  readonly value: number | string
}

/** The windows a loader wrote to a table: cell → every value it holds (one, when exactly once). */
export function windowCells(rows: readonly WindowRow[]): Map<string, number[]> {
  const cells = new Map<string, number[]>()
  for (const r of rows) {
    const cell = `${r.key}@${isoStart(r.window_start)}`
    cells.set(cell, [...(cells.get(cell) ?? []), Number(r.value)])
  }
  return cells
}

/** Every window of the reference in `cells` once, with its count, and no other window. */
export function assertCellsExact(
  cells: ReadonlyMap<string, readonly number[]>,
  expected: ReadonlyMap<string, number>,
  where: string,
): void {
  const wrong = [...expected]
    .filter(([cell, count]) => JSON.stringify(cells.get(cell)) !== JSON.stringify([count]))
    .map(([cell, count]) => `${cell}: expected [${count}], got ${JSON.stringify(cells.get(cell) ?? [])}`)
  for (const cell of cells.keys()) if (!expected.has(cell)) wrong.push(`${cell}: not expected`)
  assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} windows ${where} differ from the reference`)
}

function isoStart(start: string | Date): string {
  if (start instanceof Date) return start.toISOString()
  // MariaDB's DATETIME text, `2026-01-01 00:00:10.000`, is UTC (the sink's session time zone).
  return /^\d{4}-\d{2}-\d{2} /.test(start) ? new Date(`${start.replace(' ', 'T')}Z`).toISOString() : start
}

export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-scale-state-'))
  dirs.push(dir)
  return dir
}

/**
 * Key of event i, and its partition: key kj lives on partition j % 12 (the producer partitioned by key), or
 * j % `partitions` for a topic of another size.
 */
export function keyOf(id: number, partitions = PARTITIONS): { key: string; partition: number } {
  const j = id % KEYS
  return { key: `k${j}`, partition: j % partitions }
}

/** Events [from, to) in id order; every seventh is sent twice (a producer retry), right after itself. */
export async function produceEvents(
  topic: string,
  from: number,
  to: number,
  partitions = PARTITIONS,
): Promise<void> {
  const producer = new KafkaProducer({ brokers: brokers() })
  try {
    for (let i = from; i < to; i += 5000) {
      const records = []
      for (let id = i; id < Math.min(to, i + 5000); id++) {
        const { key, partition } = keyOf(id, partitions)
        const value = JSON.stringify({ id, key, t: T0 + id * STEP_MS })
        records.push({ topic, key, value, partition })
        if (id % 7 === 0) records.push({ topic, key, value, partition })
      }
      await producer.send(records)
    }
  } finally {
    await producer.close()
  }
}

/** One event per partition far ahead in event time, so every window of the events before it closes. */
export async function produceClosers(topic: string, last: number, partitions = PARTITIONS): Promise<void> {
  const producer = new KafkaProducer({ brokers: brokers() })
  try {
    const t = T0 + last * STEP_MS + 120_000
    await producer.send(
      Array.from({ length: partitions }, (_, p) => ({
        topic,
        key: `closer-${p}`,
        value: JSON.stringify({ id: 1e9 + p, key: `closer-${p}`, t }),
        partition: p,
      })),
    )
  } finally {
    await producer.close()
  }
}

/** The reference: per (key, window start), the number of distinct events of [0, n). */
export function reference(n: number): Map<string, number> {
  const out = new Map<string, number>()
  for (let id = 0; id < n; id++) {
    const t = T0 + id * STEP_MS
    const start = new Date(t - (t % 10_000)).toISOString()
    const cell = `${keyOf(id).key}@${start}`
    out.set(cell, (out.get(cell) ?? 0) + 1)
  }
  return out
}

/** Reads the committed window rows as they grow: counts per (key, window start), every emission kept. */
export class WindowReader {
  readonly cells = new Map<string, number[]>()
  readonly writers = new Map<string, number>()
  /** Who emitted each window, and where in the output. */
  readonly emissions = new Map<string, string[]>()
  rows = 0
  readonly #topic: GrowingTopicReader

  constructor(topic: string) {
    this.#topic = new GrowingTopicReader(topic, (r) => {
      const row = JSON.parse(r.value!.toString()) as {
        key: string
        window_start: string
        value: number
        by: string
      }
      if (row.key.startsWith('closer-')) return
      const cell = `${row.key}@${row.window_start}`
      this.cells.set(cell, [...(this.cells.get(cell) ?? []), row.value])
      this.emissions.set(cell, [...(this.emissions.get(cell) ?? []), `${row.by}@${r.partition}:${r.offset}`])
      this.writers.set(row.by, (this.writers.get(row.by) ?? 0) + 1)
      this.rows++
    })
  }

  readThrough(end: ReadonlyMap<string, bigint>): boolean {
    return this.#topic.readThrough(end)
  }

  close(): Promise<void> {
    return this.#topic.close()
  }
}

/** The windows of the reference not emitted, per input partition: how many, and the first and last. */
export function missingWindows(reader: WindowReader, expected: ReadonlyMap<string, number>): string {
  const missing = new Map<number, string[]>()
  for (const cell of expected.keys()) {
    if (reader.cells.has(cell)) continue
    const partition = Number(cell.slice(1, cell.indexOf('@'))) % PARTITIONS
    missing.set(partition, [...(missing.get(partition) ?? []), cell])
  }
  return JSON.stringify(
    Object.fromEntries(
      [...missing].map(([p, cells]) => [p, `${cells.length}: ${cells[0]} … ${cells.at(-1)}`]),
    ),
  )
}

/** Every window of the reference exactly once, with its count; no other window. */
export function assertWindowsExact(reader: WindowReader, expected: ReadonlyMap<string, number>): void {
  const wrong: string[] = []
  for (const [cell, count] of expected) {
    const got = reader.cells.get(cell)
    if (got === undefined || got.length !== 1 || got[0] !== count)
      wrong.push(
        `${cell}: expected [${count}], got ${JSON.stringify(got ?? [])} from ${reader.emissions.get(cell)?.join(', ')}`,
      )
  }
  for (const cell of reader.cells.keys()) if (!expected.has(cell)) wrong.push(`${cell}: not expected`)
  assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} windows differ from the reference`)
  assert.equal(reader.rows, expected.size)
}
