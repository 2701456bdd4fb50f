import assert from 'node:assert/strict'
import { memorySource } from '../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { type RunSummary, run } from '../../../src/runtime/run.ts'
import type { DeadLetter, SinkSpec } from '../../../src/runtime/sink.ts'

/**
 * Rows a table sink cannot take, each between good rows of one batch: every one must become a dead letter
 * with its reason while the good rows commit (issue 12, item 5, the sink side). Values are handed over as
 * objects (no parse step), as a pipeline's map would.
 */

/** A value nested `depth` levels deep. */
export function nested(depth: number): unknown {
  let value: unknown = 1
  for (let i = 0; i < depth; i++) value = { d: value }
  return value
}

/** A row with `n` fields besides its id. */
export function wide(id: number, n: number): Record<string, number> {
  const row: Record<string, number> = { id }
  for (let i = 0; i < n; i++) row[`f${i}`] = i
  return row
}

export function circular(id: number): Record<string, unknown> {
  const row: Record<string, unknown> = { id, name: 'loop' }
  const inner: Record<string, unknown> = { up: null }
  inner.up = inner
  row.meta = inner
  return row
}

export interface Hostile {
  /** What the row is, for messages. */
  readonly kind: string
  readonly row: unknown
  /** The dead letter's reason. */
  readonly reason: RegExp
}

/** What every table sink refuses the same way. */
export const commonHostile: readonly Hostile[] = [
  { kind: 'null row', row: null, reason: /^the row is null, not an object with one field per column$/ },
  { kind: 'number row', row: 42, reason: /^the row is a number \(42\), not an object/ },
  { kind: 'string row', row: 'text', reason: /^the row is a string \("text"\), not an object/ },
  { kind: 'array row', row: [1, 2], reason: /^the row is an array, not an object/ },
  {
    kind: 'NUL in a field name',
    row: { id: 101, 'a\u0000b': 1 },
    reason: /^field "a\\u0000b": a column name cannot contain a NUL character$/,
  },
  {
    kind: 'empty field name',
    row: { id: 102, '': 1 },
    reason: /^field "": the empty string is not a column name$/,
  },
]

/** Good rows around the hostile ones: `null` first, as the issue found it stopping DuckDB. */
export function goodRows(n: number): { id: number; name: string; price: number }[] {
  return Array.from({ length: n }, (_, i) => ({ id: i, name: `n${i}`, price: i + 0.5 }))
}

export interface HostileRun {
  readonly summary: RunSummary
  /** What the runtime was told: the pipeline's dead letters and the rows the sink refused. */
  readonly reported: DeadLetter[]
}

/**
 * Runs the rows (hostile ones among good ones, the first row hostile) into the sink in one batch and checks
 * that the run went on: every good row counted as written, every hostile row as dead-lettered.
 */
export async function runHostile(
  pipelineId: string,
  sink: SinkSpec<unknown>,
  hostile: readonly Hostile[],
  good: readonly unknown[],
  checkpoint: string,
): Promise<HostileRun> {
  const [first, ...rest] = hostile
  const input: unknown[] = first ? [first.row] : []
  rest.forEach((h, i) => {
    input.push(good[i % good.length], h.row)
  })
  input.push(...good.slice(Math.min(rest.length, good.length)))
  const reported: DeadLetter[] = []
  const summary = await run(pipeline(pipelineId).from(memorySource('hostile', input)).to(sink), {
    checkpoint,
    trigger: { kind: 'availableNow' },
    onDeadLetters: (letters) => reported.push(...letters),
  })
  const written = input.length - hostile.length
  assert.equal(summary.deadLetteredRows, hostile.length, 'each hostile row is a dead letter')
  assert.equal(summary.outputRows, written, 'the good rows are written')
  assert.equal(reported.length, hostile.length)
  return { summary, reported }
}

/** Each hostile row has a dead letter with its reason (in input order), whatever the store's shape. */
export function assertReasons(hostile: readonly Hostile[], reasons: readonly string[]): void {
  assert.equal(reasons.length, hostile.length, `reasons: ${JSON.stringify(reasons)}`)
  hostile.forEach((h, i) => {
    assert.match(reasons[i] ?? '', h.reason, `${h.kind}`)
  })
}
