import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { after, describe, test } from 'node:test'
import { count } from '../../src/aggregate/index.ts'
import { Checkpoint } from '../../src/checkpoint/checkpoint.ts'
import { type MemorySink, memory } from '../../src/connectors/testing/memory.ts'
import { memorySource } from '../../src/connectors/testing/memory-source.ts'
import { Pipeline, pipeline } from '../../src/dsl/stream.ts'
import { run } from '../../src/runtime/run.ts'
import { STATE_FORMAT, StateDatabase } from '../../src/state/state-database.ts'
import { tumbling } from '../../src/window/index.ts'

const dirs: string[] = []
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-step-ids-'))
  dirs.push(dir)
  return dir
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

const T0 = Date.parse('2026-11-25T10:00:00Z')
type Event = { k: string; d: string; t: number }
// Each d three times in a row, again 150 s later; k cycles over 7 keys.
const events = Array.from({ length: 600 }, (_, i) => ({
  value: { k: `k${i % 7}`, d: `d${Math.floor(i / 3) % 50}`, t: T0 + i * 1000 } satisfies Event,
  partition: `p${i % 2}`,
}))
// State committed every batch: a stopped run leaves nothing for recovery to rebuild by replaying, so state
// filed under the wrong id would show in the output.
const options = { trigger: { kind: 'availableNow' }, maxBatchRecords: 50, stateCommitIntervalMs: 0 } as const

function windowed(sink: MemorySink<unknown>, mapFirst: boolean) {
  const events$ = pipeline('step-ids').from(memorySource<Event>('events', events))
  return (mapFirst ? events$.map((e) => ({ ...e })) : events$)
    .withWatermark('t', '0s')
    .keyBy((e) => e.k)
    .window(tumbling('1m'))
    .aggregate(count())
    .to(sink)
}

/** Two dedupes: positional ids dedupe-2 and dedupe-3 then, dedupe and dedupe-2 now (one id swaps owner). */
function deduped(sink: MemorySink<unknown>) {
  return pipeline('step-ids-old')
    .from(memorySource<Event>('events', events))
    .withWatermark('t', '0s')
    .dedupe((e) => e.d, '1m')
    .dedupe((e) => e.k, '5s')
    .to(sink)
}

/** The plan as a Sluice before stable ids saw it: every step's id was `<kind>-<position>`. */
function withPositionalIds<T>(p: Pipeline<T>): Pipeline<T> {
  return new Pipeline<T>({
    ...p.plan,
    nodes: p.plan.nodes.map((node, position) => ({ ...node, id: `${node.kind}-${position}` })),
  })
}

/**
 * Turns a checkpoint written with positional ids into what a Sluice before stable ids left: metadata.json of
 * version 1 (its fingerprint has the positional ids already) and a state store without a format mark.
 */
async function asBeforeStableIds(checkpoint: string): Promise<void> {
  const file = join(checkpoint, 'metadata.json')
  const metadata = JSON.parse(await readFile(file, 'utf8')) as { version: number }
  await writeFile(file, JSON.stringify({ ...metadata, version: 1 }, null, 2))
  const db = new DatabaseSync(join(checkpoint, 'state.db'))
  db.exec('PRAGMA user_version = 0')
  db.close()
}

function rowsByOperator(checkpoint: string): Record<string, number> {
  const db = new DatabaseSync(join(checkpoint, 'state.db'), { readOnly: true })
  const rows = db.prepare('SELECT op, count(*) AS n FROM entries GROUP BY op ORDER BY op').all() as {
    op: string
    n: number
  }[]
  db.close()
  return Object.fromEntries(rows.map((r) => [r.op, r.n]))
}

describe('stable step ids in checkpoints', () => {
  test('a map inserted before a window keeps its id: the checkpoint opens and the window state continues', async () => {
    const straight = memory()
    await run(windowed(straight, false), { ...options, checkpoint: await tempDir() })
    const resumed = memory()
    const checkpoint = await tempDir()
    const first = windowed(resumed, false)
    await run(first, { ...options, checkpoint, maxBatches: 4 })
    const windowId = first.plan.nodes.find((n) => n.kind === 'window')!.id
    assert.ok(rowsByOperator(checkpoint)[windowId]! > 0, 'the stopped run left open windows in the store')
    await run(windowed(resumed, true), { ...options, checkpoint })
    assert.ok(straight.rows.length >= 50)
    assert.deepEqual(resumed.rows, straight.rows)
  })

  test('a checkpoint written with positional ids opens for the same plan, with its state under the new ids', async () => {
    const straight = memory()
    await run(deduped(straight), { ...options, checkpoint: await tempDir() })
    const resumed = memory()
    const checkpoint = await tempDir()
    await run(withPositionalIds(deduped(resumed)), { ...options, checkpoint, maxBatches: 4 })
    await asBeforeStableIds(checkpoint)
    const before = rowsByOperator(checkpoint)
    assert.deepEqual(Object.keys(before), ['dedupe-2', 'dedupe-3'])

    // Opening moves the rows to the ids of today, the second dedupe's to the first's old id.
    const opened = await Checkpoint.open(checkpoint, deduped(memory()).plan)
    opened.close()
    assert.deepEqual(rowsByOperator(checkpoint), {
      dedupe: before['dedupe-2'],
      'dedupe-2': before['dedupe-3'],
    })
    const metadata = JSON.parse(await readFile(join(checkpoint, 'metadata.json'), 'utf8'))
    assert.equal(metadata.version, 2)
    assert.deepEqual(
      metadata.fingerprint.operators.map((o: { id: string }) => o.id),
      ['watermark', 'dedupe', 'dedupe-2'],
    )

    await run(deduped(resumed), { ...options, checkpoint })
    assert.ok(straight.rows.length > 100 && straight.rows.length < events.length)
    assert.deepEqual(resumed.rows, straight.rows)
  })

  test('a crash after the store moved its rows but before metadata.json said so does not move them again', async () => {
    const checkpoint = await tempDir()
    await run(withPositionalIds(deduped(memory())), { ...options, checkpoint, maxBatches: 4 })
    await asBeforeStableIds(checkpoint)
    const oldMetadata = await readFile(join(checkpoint, 'metadata.json'), 'utf8')
    const before = rowsByOperator(checkpoint)
    const plan = deduped(memory()).plan
    ;(await Checkpoint.open(checkpoint, plan)).close()
    await writeFile(join(checkpoint, 'metadata.json'), oldMetadata) // as if the process died before rewriting it
    ;(await Checkpoint.open(checkpoint, plan)).close()
    assert.deepEqual(rowsByOperator(checkpoint), {
      dedupe: before['dedupe-2'],
      'dedupe-2': before['dedupe-3'],
    })
    assert.equal(JSON.parse(await readFile(join(checkpoint, 'metadata.json'), 'utf8')).version, 2)
  })

  test('the store refiles rows whose ids trade places, and marks itself in the same transaction', () => {
    const database = StateDatabase.open(':memory:')
    assert.equal(database.format, STATE_FORMAT, 'a new store is marked')
    database.begin(0)
    for (const [op, key] of [
      ['a', 'k1'],
      ['a', 'k2'],
      ['b', 'k1'],
      ['c', 'k1'],
    ])
      database.table(op!).put(key!, null, `${op}/${key}`)
    database.commit(0, [], {})
    database.refileOperators(
      new Map([
        ['b', 'a'],
        ['a', 'b'],
      ]),
    )
    const values = (op: string) => [...database.table(op).all()].map((e) => e.value)
    assert.deepEqual(values('a'), ['b/k1'])
    assert.deepEqual(values('b'), ['a/k1', 'a/k2'])
    assert.deepEqual(values('c'), ['c/k1'])
    assert.equal(database.format, STATE_FORMAT)
    database.close()
  })
})
