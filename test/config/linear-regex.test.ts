import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { PipelineFileError, parsePipelineYaml } from '../../src/config/index.ts'
import { memory } from '../../src/connectors/testing/memory.ts'
import { memorySource } from '../../src/connectors/testing/memory-source.ts'
import { run } from '../../src/runtime/run.ts'
import type { SourceSpec } from '../../src/runtime/source.ts'

/**
 * CEL matches() runs in linear time (RE2 semantics): a record cannot stall a pipeline with a pattern that
 * backtracks. The ReDoS test has no timed assertion: with JavaScript's backtracking RegExp it does not finish
 * (the issue measured 139 s for this record), so the per-test timeout is what fails it.
 */

let dir: string
let n = 0
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-regex-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function runFilter(filter: string, values: readonly unknown[]) {
  const sink = memory()
  const text = `pipeline: p\nsource: { generator: { count: 1 } }\nsteps:\n  - filter: ${JSON.stringify(filter)}\nsink: { console: }\n`
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
  await run(p, { checkpoint: join(dir, `cp-${n++}`), trigger: { kind: 'availableNow' } })
  return { rows: sink.rows, deadLetters: sink.deadLetters.map((d) => [d.offset, d.reason]) }
}

async function problemsOf(filter: string): Promise<string[]> {
  const text = `pipeline: p\nsource: { generator: { count: 1 } }\nsteps:\n  - filter: ${JSON.stringify(filter)}\nsink: { console: }\n`
  try {
    await parsePipelineYaml(text, { file: 'p.yaml', env: {} })
  } catch (error) {
    assert.ok(error instanceof PipelineFileError, `expected a PipelineFileError, got ${String(error)}`)
    return error.message.split('\n')
  }
  assert.fail('the file was accepted')
}

const evil = `${'a'.repeat(34)}!`

test('the ReDoS record of issue 14 is filtered out, not a stalled pipeline', {
  timeout: 30_000,
}, async () => {
  const out = await runFilter("!event.s.matches('^(a+)+$')", [{ s: evil }, { s: 'aaa' }, { s: 'b' }])
  assert.deepEqual(out.rows, [{ s: evil }, { s: 'b' }])
  assert.deepEqual(out.deadLetters, [])
  // Inside a macro's body (a comprehension) too.
  const inList = await runFilter("event.l.exists(x, x.matches('^(a+)+$'))", [
    { l: ['b', evil] },
    { l: ['a'] },
  ])
  assert.deepEqual(inList.rows, [{ l: ['a'] }])
})

test('a pattern the record chooses runs in linear time too', { timeout: 30_000 }, async () => {
  const out = await runFilter('event.s.matches(event.re)', [
    { s: evil, re: '^(a+)+$' },
    { s: 'abc', re: 'b' },
    { s: 'abc', re: '(a)\\1' },
  ])
  assert.deepEqual(out.rows, [{ s: 'abc', re: 'b' }])
  assert.equal(out.deadLetters.length, 1)
  const [offset, reason] = out.deadLetters[0] as [number, string]
  assert.equal(offset, 2)
  assert.match(reason, /invalid regular expression "\(a\)\\\\1": .*invalid escape sequence/)
})

test('matches() is a search with RE2 syntax: unanchored, (?i) flags, \\d classes', async () => {
  const out = await runFilter("event.s.matches('(?i)^ab\\\\d+') && event.s.matches('c')", [
    { s: 'AB12c' },
    { s: 'ab12' },
    { s: 'xab1c' },
  ])
  assert.deepEqual(out.rows, [{ s: 'AB12c' }])
})

test('a literal pattern RE2 cannot run is refused when the file loads, at the pattern', async () => {
  assert.deepEqual(await problemsOf("event.s.matches('(a)\\\\1')"), [
    'p.yaml:4:30: invalid regular expression "(a)\\\\1": invalid escape sequence: `\\1` (matches() uses RE2 syntax: no backreferences or lookaround) in expression "event.s.matches(\'(a)\\\\\\\\1\')"',
  ])
  const [lookahead] = await problemsOf("event.s.matches('x(?=y)')")
  assert.match(lookahead ?? '', /^p\.yaml:4:30: invalid regular expression "x\(\?=y\)"/)
})
