import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { runCli } from '../helpers/cli.ts'

/**
 * Issue 15, item 4: a bounded run (here a generator source that ends) that dead-letters every record exits
 * non-zero with the first record's reason, not 0 over an empty output. No schema, so the missing field is only
 * found per record.
 */

let dir: string
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-all-dead-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function runFile(name: string, filter: string) {
  const file = join(dir, `${name}.yaml`)
  await writeFile(
    file,
    `pipeline: ${name}\nsource: { generator: { count: 40, seed: 3 } }\nsteps:\n  - filter: "${filter}"\nsink: { console: }\n`,
  )
  return runCli(['run', file, '--checkpoint', join(dir, name)], { timeoutMs: 120_000 })
}

test('every record dead-lettered: exit 1 with the count and the first reason, after the summary', async () => {
  const result = await runFile('all-dead', 'event.nope == 1.0')
  assert.equal(result.code, 1, result.stderr)
  const lines = result.stderr.trim().split('\n')
  assert.match(lines.at(-2) ?? '', /^all-dead: 40 records .* 0 rows out, 40 dead-lettered/)
  assert.equal(
    lines.at(-1),
    'sluice: pipeline all-dead dead-lettered every one of its 40 input records; the first, at filter: filter threw: No such key: nope in "event.nope == 1.0"',
  )
})

test('some records through: exit 0', async () => {
  const result = await runFile('some-dead', "event.event_type == 'page_view' || event.nope == 1.0")
  assert.equal(result.code, 0, result.stderr)
  assert.match(result.stderr, /some-dead: 40 records .* [1-9]\d* rows out, [1-9]\d* dead-lettered/)
})
