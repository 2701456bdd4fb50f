import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { parsePipelineYaml } from '../../src/config/index.ts'
import { memory } from '../../src/connectors/testing/memory.ts'
import { memorySource } from '../../src/connectors/testing/memory-source.ts'
import { run } from '../../src/runtime/run.ts'
import type { SourceSpec } from '../../src/runtime/source.ts'

/**
 * The keyBy + process step of pipeline files at run time: what next and emit see, null forgetting a key,
 * failures dead-lettering the record without touching the state, and the state surviving a restart.
 */

let dir: string
let n = 0
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-yaml-process-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function runYaml(steps: string, values: readonly unknown[], checkpoint = join(dir, `cp-${n++}`)) {
  const sink = memory()
  const text = `pipeline: p\nsource: { generator: { count: 1 } }\nsteps:\n${steps}\nsink: { console: }\n`
  const p = await parsePipelineYaml(text, {
    file: 'p.yaml',
    overrides: {
      source: memorySource(
        'in',
        values.map((v) => JSON.stringify(v)),
      ) as SourceSpec,
      sink,
    },
  })
  const summary = await run(p, { checkpoint, trigger: { kind: 'availableNow' } })
  return {
    inputRows: summary.inputRows,
    rows: sink.rows,
    deadLetters: sink.deadLetters.map((d) => [d.offset, d.operator, d.reason]),
  }
}

/** A running total per user; `reset` forgets it. emit shows the state before and after each record. */
const runningTotal = [
  '  - keyBy: event.user',
  '  - id: totals',
  '    process:',
  '      init: "0.0"',
  '      next: "has(event.reset) ? dyn(null) : state + event.n"',
  "      emit: \"[{'user': key, 'before': state, 'after': next}]\"",
].join('\n')

test('next gives the state, emit sees it before (state) and after (next), null forgets the key', async () => {
  const out = await runYaml(runningTotal, [
    { user: 'a', n: 2 },
    { user: 'b', n: 5 },
    { user: 'a', n: 3 },
    { user: 'a', reset: true },
    { user: 'a', n: 1 },
  ])
  assert.deepEqual(out.rows, [
    { user: 'a', before: 0, after: 2 },
    { user: 'b', before: 0, after: 5 },
    { user: 'a', before: 2, after: 5 },
    { user: 'a', before: 5, after: null },
    // Forgotten: the next record of the key starts again from init.
    { user: 'a', before: 0, after: 1 },
  ])
  assert.deepEqual(out.deadLetters, [])
})

test('a failing next or emit, or an emit that is not a list, dead-letters the record and keeps the state', async () => {
  const out = await runYaml(
    [
      '  - keyBy: event.user',
      '  - process:',
      '      init: "0.0"',
      '      next: state + event.n',
      '      emit: "event.quiet ? dyn({}) : [next]"',
    ].join('\n'),
    [
      { user: 'a', n: 2, quiet: false },
      { user: 'a', n: 'x', quiet: false },
      { user: 'a', n: 10, quiet: true },
      { user: 'a', n: 1 },
      { n: 1, quiet: false },
      { user: 'a', n: 3, quiet: false },
    ],
  )
  // Only the good records changed the state: 2, then 2 + 3.
  assert.deepEqual(out.rows, [2, 5])
  assert.deepEqual(out.deadLetters, [
    [1, 'process', 'process threw: no such overload: dyn<double> + dyn<string> in "state + event.n"'],
    [2, 'process', 'process threw: emit "event.quiet ? dyn({}) : [next]" gave {}, not a list'],
    [3, 'process', 'process threw: No such key: quiet in "event.quiet ? dyn({}) : [next]"'],
    [4, 'keyBy', 'keyBy threw: No such key: user in "event.user"'],
  ])
})

test('the state is JSON: a list of maps is checkpointed and restored, and the run resumes with it', async () => {
  const steps = [
    '  - keyBy: event.session',
    '  - process:',
    '      init: "[]"',
    "      next: \"event.buy ? dyn(null) : state + [{'item': event.item, 'price': event.price}]\"",
    "      emit: \"event.buy ? [{'session': key, 'items': state.map(l, l.item), 'value': state.map(l, l.price).sum()}] : []\"",
    '      ttl: 1h',
  ].join('\n')
  const values = [
    { session: 's1', item: 'hat', price: 10.5, buy: false },
    { session: 's2', item: 'shoe', price: 40, buy: false },
    { session: 's1', item: 'scarf', price: 7, buy: false },
    { session: 's1', buy: true },
    { session: 's2', item: 'sock', price: 2, buy: false },
    { session: 's2', buy: true },
  ]
  const checkpoint = join(dir, 'restart')
  const first = await runYaml(steps, values.slice(0, 3), checkpoint)
  assert.deepEqual(first.rows, [])
  // The second run resumes after the third record, with the carts restored from the checkpoint.
  const second = await runYaml(steps, values, checkpoint)
  assert.equal(second.inputRows, 3)
  assert.deepEqual(second.rows, [
    { session: 's1', items: ['hat', 'scarf'], value: 17.5 },
    { session: 's2', items: ['shoe', 'sock'], value: 42 },
  ])
  const straight = await runYaml(steps, values)
  assert.deepEqual(straight.rows, second.rows)
})
