/**
 * The SQL sinks' crash test at scale, the same for postgres, mysql and duckdb: a child process runs two
 * pipelines over 200,000 clickstream events (crash-200k-child.ts: an append of the projected events, and an
 * upsert of per-minute counts in update mode) and is killed with SIGKILL at five random moments (a random
 * instant of a batch, the restore, or right after a sink commit before the checkpoint marks the batch),
 * restarted after each, then run to the end. After every kill the tables must hold exactly what the input up
 * to the position in the offsets table gives (rows and offsets commit together; crash_clicks compared by
 * event id, the windows and dead letters by content), and at the end exactly the whole input: every event
 * once, every window's totals, every malformed record once as a dead letter, compared by content with what
 * crash-200k-input.ts computes from the generator's records.
 *
 * The kill moments come from a seeded generator; the seed is printed, and SLUICE_CRASH_SEED=<seed> repeats
 * the choices (the timing of the machine still varies).
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import type { Positions } from '../../../src/runtime/source.ts'
import { CLICKS_PIPELINE, COUNTS_PIPELINE, type SqlSinkKind } from './crash-200k-child.ts'
import {
  type Click,
  type CrashInput,
  EVENTS,
  expectedClicks,
  expectedCounts,
  expectedDeadLetters,
  linesRead,
  type WindowCount,
  writeCrashInput,
} from './crash-200k-input.ts'

const KILLS = 5
/** The kills fall in this share of the clicks pipeline's batches, one in each equal part: the rest is for the last run. */
const KILLED_SHARE = 0.9
/** A child still running after this long is stuck: it is killed and the test fails (no process left behind). */
const STUCK_MS = 150_000
const child = fileURLToPath(new URL('./crash-200k-child.ts', import.meta.url))

export interface Crash200kTarget {
  readonly kind: SqlSinkKind
  /** Records per batch: a few thousand, so that a run has dozens of batches. */
  readonly batchRecords: number
  /** The database URL, or the DuckDB file (in `dir`, the test's temporary directory). */
  location(dir: string): string
  /** crash_clicks as Click values (timestamps as ISO text); [] while the table does not exist. */
  clicks(): Promise<Click[]>
  /** The event_id column of crash_clicks; [] while the table does not exist. */
  clickIds(): Promise<string[]>
  /** crash_counts as WindowCount values; [] while the table does not exist. */
  counts(): Promise<WindowCount[]>
  /** The pipeline's dead letters as "<source_partition>@<source_offset>"; [] while there is no table. */
  deadLetters(pipelineId: string): Promise<string[]>
  /** The positions the offsets table holds for the pipeline; {} while there is none. */
  positions(pipelineId: string): Promise<Positions>
  /**
   * A sink without transactions (MongoDB on FerretDB) writes a batch's rows before its positions, so after a
   * kill it may hold rows past them, which the batch's replay writes again: between kills each event up to
   * the positions is checked to be there exactly once, not that nothing is past them; the end is compared
   * by content as for the others.
   */
  readonly rowsAheadOfPositions?: boolean
  /** The whole test's time budget; default 300 s (FerretDB reads a collection back far slower). */
  readonly timeoutMs?: number
  /** How long a child may run before it counts as stuck; default STUCK_MS. */
  readonly stuckMs?: number
  tempDir(): Promise<string>
}

/** A small seeded generator (mulberry32), so that a failing run can be repeated with the seed it prints. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface ChildRun {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stderr: string
  /** Batches the two pipelines committed in this run. */
  readonly batches: number
  /** Per pipeline, the last batch committed in this run or before. */
  readonly last: Readonly<Record<string, number>>
  readonly done: boolean
  /** Killed because it ran longer than the target's stuckMs (STUCK_MS). */
  readonly stuck: boolean
  /** Recoveries it logged: a batch the sink had committed marked in the checkpoint, or a batch replayed. */
  readonly marked: number
  readonly replayed: number
}

/**
 * When to kill a child: once both pipelines committed batch `batchId`, `jitterMs` later (a random instant of
 * the batches that follow), or with `sinkCommitted` at once when a sink's commit returns next (mostly before
 * the checkpoint marks the batch). Both pipelines still have batches to go then, so the kill comes before
 * the end. If both committed `batchId` in an earlier run already, `jitterMs` after the start instead: the
 * kill lands in the restore or the first batches.
 */
interface Kill {
  readonly batchId: number
  readonly sinkCommitted: boolean
  readonly jitterMs: number
}

/** The batch both pipelines have committed. */
const slowest = (last: Readonly<Record<string, number>>) =>
  Math.min(last[CLICKS_PIPELINE] ?? -1, last[COUNTS_PIPELINE] ?? -1)

/** Runs the child, and with `kill` SIGKILLs it at that moment unless it ended before. */
function runChild(
  args: readonly string[],
  committed: Readonly<Record<string, number>>,
  stuckMs: number,
  kill?: Kill,
): Promise<ChildRun> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [child, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    let stdout = ''
    let batches = 0
    const last: Record<string, number> = { ...committed }
    let done = false
    let timer: NodeJS.Timeout | undefined
    let stuck = false
    const guard = setTimeout(() => {
      stuck = true
      proc.kill('SIGKILL')
    }, stuckMs)
    const arm = () => {
      timer ??= setTimeout(() => proc.kill('SIGKILL'), kill?.jitterMs)
    }
    const early = kill !== undefined && kill.batchId <= slowest(committed)
    if (early) arm()
    let marked = 0
    let replayed = 0
    let partial = ''
    proc.stderr.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines) {
        if (line.includes('"msg":"the sink committed the last batch before the crash; marking it"')) marked++
        else if (line.includes('"msg":"replaying the unfinished batch"')) replayed++
        // Info lines (one per batch) would push an error's message out of what is kept.
        if (!line.startsWith('{"level":30')) stderr = `${stderr}${line}\n`.slice(-8000)
      }
    })
    proc.stdout.on('data', (d: Buffer) => {
      const lines = (stdout + d.toString()).split('\n')
      stdout = lines.pop() ?? ''
      for (const line of lines) {
        const [pipelineId = '', what = ''] = line.split(' ')
        if (line === 'done') done = true
        else if (what === 'sink-committed') {
          if (kill?.sinkCommitted && !early && slowest(last) >= kill.batchId) proc.kill('SIGKILL')
        } else if (pipelineId.startsWith('crash-200k-')) {
          batches++
          last[pipelineId] = Number(what)
        }
      }
      if (kill && !kill.sinkCommitted && slowest(last) >= kill.batchId) arm()
    })
    proc.on('exit', (code, signal) => {
      clearTimeout(timer)
      clearTimeout(guard)
      resolve({ code, signal, stderr: stderr + partial, batches, last, done, stuck, marked, replayed })
    })
  })
}

/** Compares two multisets of rows by content; the message names some missing, extra and changed rows. */
function assertSameRows<T extends object>(
  actual: readonly T[],
  expected: readonly T[],
  id: (row: T) => string,
  what: string,
): void {
  const fields = Object.keys(expected[0] ?? actual[0] ?? {}).sort()
  const text = (row: T) => {
    if (Object.keys(row).length !== fields.length)
      assert.fail(`${what}: a row with other columns than ${fields.join(', ')}: ${JSON.stringify(row)}`)
    return JSON.stringify(fields.map((f) => row[f as keyof T]))
  }
  const want = new Map<string, number>()
  for (const row of expected) {
    const t = text(row)
    want.set(t, (want.get(t) ?? 0) + 1)
  }
  const extra: T[] = []
  for (const row of actual) {
    const t = text(row)
    const n = want.get(t) ?? 0
    if (n === 0) extra.push(row)
    else if (n === 1) want.delete(t)
    else want.set(t, n - 1)
  }
  if (extra.length === 0 && want.size === 0) return
  const missing = [...want.keys()].map(
    (t) => Object.fromEntries(fields.map((f, i) => [f, (JSON.parse(t) as unknown[])[i]])) as T,
  )
  const seen = new Map<string, number>()
  for (const row of actual) seen.set(id(row), (seen.get(id(row)) ?? 0) + 1)
  const duplicated = [...seen].filter(([, n]) => n > 1).map(([key]) => key)
  assert.fail(
    `${what}: ${actual.length} rows, expected ${expected.length}; ${want.size} missing or changed, ` +
      `${extra.length} unexpected or changed, ${duplicated.length} ids more than once.\n` +
      `missing e.g. ${JSON.stringify(missing.slice(0, 3))}\nunexpected e.g. ${JSON.stringify(extra.slice(0, 3))}\n` +
      `duplicated e.g. ${JSON.stringify(duplicated.slice(0, 5))}`,
  )
}

/**
 * What the sink holds must be exactly the input up to the positions it committed with it. Between kills
 * crash_clicks is compared by event id: the table is only appended to, so the comparison by content at the
 * end covers every row any run committed.
 */
async function assertMatchesOffsets(
  target: Crash200kTarget,
  input: CrashInput,
  when: string,
  clicksBy: 'id' | 'content',
) {
  const clicksAt = await target.positions(CLICKS_PIPELINE)
  const expected = expectedClicks(input, clicksAt)
  if (clicksBy === 'content')
    assertSameRows(await target.clicks(), expected, (c) => c.event_id, `${when}, crash_clicks`)
  else
    assertSameRows(
      (await target.clickIds()).map((event_id) => ({ event_id })),
      expected.map(({ event_id }) => ({ event_id })),
      (c) => c.event_id,
      `${when}, crash_clicks`,
    )
  const countsAt = await target.positions(COUNTS_PIPELINE)
  assertSameRows(
    await target.counts(),
    expectedCounts(input, countsAt),
    (c) => `${c.key} ${c.window_start}`,
    `${when}, crash_counts`,
  )
  for (const [pipelineId, at] of [
    [CLICKS_PIPELINE, clicksAt],
    [COUNTS_PIPELINE, countsAt],
  ] as const) {
    assert.deepEqual(
      (await target.deadLetters(pipelineId)).sort(),
      expectedDeadLetters(input, at).sort(),
      `${when}: the dead letters of ${pipelineId}`,
    )
  }
  return { clicksAt, countsAt }
}

/** For rowsAheadOfPositions: every click up to the positions once (and none twice), whatever is past them. */
async function assertHoldsOffsets(target: Crash200kTarget, input: CrashInput, when: string) {
  const clicksAt = await target.positions(CLICKS_PIPELINE)
  const countsAt = await target.positions(COUNTS_PIPELINE)
  const seen = new Map<string, number>()
  for (const id of await target.clickIds()) seen.set(id, (seen.get(id) ?? 0) + 1)
  const twice = [...seen].filter(([, n]) => n > 1).map(([id]) => id)
  assert.deepEqual(twice.slice(0, 5), [], `${when}, crash_clicks: event ids more than once`)
  const missing = expectedClicks(input, clicksAt).filter((c) => !seen.has(c.event_id))
  assert.deepEqual(
    missing.slice(0, 5).map((c) => c.event_id),
    [],
    `${when}, crash_clicks: ${missing.length} events before the positions are missing`,
  )
  return { clicksAt, countsAt }
}

function describeKill(kill: Kill, early: boolean): string {
  if (early) return `${kill.jitterMs} ms after the start`
  if (kill.sinkCommitted) return `at the first sink commit after batch ${kill.batchId}`
  return `${kill.jitterMs} ms after batch ${kill.batchId}`
}

/** Registers the test in the calling file (inside its describe()). */
export function crash200kTest(target: Crash200kTarget): void {
  test(`SIGKILL at ${KILLS} random moments of a ${EVENTS / 1000}k-event run, then to the end: every row exactly once`, {
    timeout: target.timeoutMs ?? 300_000,
  }, async (t) => {
    const seed = Number(process.env.SLUICE_CRASH_SEED ?? Date.now() % 1_000_000)
    const stuckMs = target.stuckMs ?? STUCK_MS
    const next = seededRandom(seed)
    const dir = await target.tempDir()
    const input = await writeCrashInput(dir)
    assert.ok(expectedDeadLetters(input, input.end).length > 100, 'the input has malformed records')
    const args = [
      target.kind,
      target.location(dir),
      dir,
      join(dir, 'checkpoint'),
      String(target.batchRecords),
    ]
    const story: string[] = []
    const batches = Math.ceil(EVENTS / target.batchRecords)
    let committed: Readonly<Record<string, number>> = {}
    let killedAfter = 0
    const recoveries = { marked: 0, replayed: 0 }
    const count = (run: ChildRun) => {
      recoveries.marked += run.marked
      recoveries.replayed += run.replayed
    }
    for (let i = 0; i < KILLS; i++) {
      // One kill in each fifth of the first 90 % of the batches; whether at a random instant after the batch
      // or right after a sink commit is drawn too.
      const stratum = (batches * KILLED_SHARE) / KILLS
      const batchId = Math.floor((i + next()) * stratum)
      const sinkCommitted = next() < 0.4
      const jitter = next()
      const early = batchId <= slowest(committed)
      const jitterMs = early ? 300 + Math.floor(jitter * 1500) : Math.floor(jitter * 150)
      const kill = { batchId, sinkCommitted, jitterMs }
      const started = Date.now()
      const result = await runChild(args, committed, stuckMs, kill)
      const ran = Date.now()
      assert.ok(
        !result.stuck,
        `seed ${seed}, run ${i + 1}: no kill moment within ${stuckMs} ms: ${result.stderr}`,
      )
      assert.equal(
        result.signal,
        'SIGKILL',
        `seed ${seed}, run ${i + 1}: ended by itself (code ${result.code}) before the kill: ${result.stderr}`,
      )
      committed = result.last
      killedAfter += result.batches
      count(result)
      const { clicksAt, countsAt } = target.rowsAheadOfPositions
        ? await assertHoldsOffsets(target, input, `seed ${seed}, after kill ${i + 1}`)
        : await assertMatchesOffsets(target, input, `seed ${seed}, after kill ${i + 1}`, 'id')
      const seconds = (from: number, to: number) => `${((to - from) / 1000).toFixed(0)} s`
      story.push(
        `kill ${i + 1}: ${describeKill(kill, early)}, ${result.batches} batches; ` +
          `${linesRead(input, clicksAt)} and ${linesRead(input, countsAt)} events committed ` +
          `(run ${seconds(started, ran)}, check ${seconds(ran, Date.now())})`,
      )
    }
    assert.ok(killedAfter > 0, `seed ${seed}: no batch was committed before the kills`)

    const lastStarted = Date.now()
    const last = await runChild(args, committed, stuckMs)
    count(last)
    story.push(`the last run ${((Date.now() - lastStarted) / 1000).toFixed(0)} s`)
    story.push(
      `restarts marked ${recoveries.marked} batches the sink had committed and replayed ${recoveries.replayed}`,
    )
    t.diagnostic(`seed ${seed}: ${story.join(' | ')}`)
    assert.ok(!last.stuck, `seed ${seed}: the last run did not end within ${stuckMs} ms: ${last.stderr}`)
    assert.equal(last.code, 0, `seed ${seed}: ${last.stderr}`)
    assert.ok(last.done && last.batches > 0, `seed ${seed}: the last run had nothing left to do`)
    const { clicksAt, countsAt } = await assertMatchesOffsets(
      target,
      input,
      `seed ${seed}, at the end`,
      'content',
    )
    assert.deepEqual(clicksAt, input.end, 'the clicks pipeline read every file to its end')
    assert.deepEqual(countsAt, input.end, 'the counts pipeline read every file to its end')
  })
}
