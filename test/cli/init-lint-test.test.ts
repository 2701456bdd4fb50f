import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { type CliResult, runCli } from '../helpers/cli.ts'

/**
 * Issue 15, item 3: `sluice init` writes a starter pipeline and a test that passes as written (TypeScript with
 * node:test, or YAML with `sluice test`); `sluice test` shows a failing case as a diff with exit 1; `sluice lint`
 * checks a file without running it (file:line:col, exit 2, or one OK line).
 */

// Inside the repository (scratch/ is ignored), where `import … from 'sluice'` resolves as in a project that
// installed it.
const repo = fileURLToPath(new URL('../../', import.meta.url))
let dir: string

/** `node --test FILE` as a user runs it: without this run's test-runner variables, it runs and reports itself. */
function nodeTest(file: string): Promise<CliResult> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('NODE_TEST_')))
  return new Promise((resolve) => {
    execFile(process.execPath, ['--test', file], { env, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr })
    })
  })
}

before(async () => {
  await mkdir(join(repo, 'scratch'), { recursive: true })
  dir = await mkdtemp(join(repo, 'scratch', 'init-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

test('init --yaml: the written test passes under sluice test, and lint says OK', async () => {
  const target = join(dir, 'yaml')
  const init = await runCli(['init', target, '--yaml'])
  assert.equal(init.code, 0, init.stderr)
  assert.match(init.stdout, /^wrote .*pipeline\.yaml and .*pipeline\.test\.yaml/)
  const tested = await runCli(['test', join(target, 'pipeline.test.yaml')])
  assert.equal(tested.code, 0, tested.stdout + tested.stderr)
  assert.match(tested.stdout, /✔ a view and a click on one page in one minute\n/)
  assert.match(tested.stdout, /2 passed, 0 failed\n$/)
  const linted = await runCli(['lint', join(target, 'pipeline.yaml')])
  assert.equal(linted.code, 0, linted.stderr)
  assert.equal(linted.stdout, `${join(target, 'pipeline.yaml')}: OK (pipeline starter)\n`)
})

test('init: the TypeScript test passes under node --test, and lint loads the module', async () => {
  const target = join(dir, 'ts')
  const init = await runCli(['init', target])
  assert.equal(init.code, 0, init.stderr)
  const tested = await nodeTest(join(target, 'pipeline.test.ts'))
  assert.equal(tested.code, 0, tested.stdout + tested.stderr)
  assert.match(tested.stdout, /pass 2/)
  const linted = await runCli(['lint', join(target, 'pipeline.ts')])
  assert.equal(linted.code, 0, linted.stderr)
  assert.match(linted.stdout, /pipeline\.ts: OK \(pipeline starter\)\n$/)
})

test('init refuses to overwrite: exit 2, the files named, nothing changed', async () => {
  const target = join(dir, 'again')
  assert.equal((await runCli(['init', target, '--yaml'])).code, 0)
  await writeFile(join(target, 'pipeline.yaml'), 'mine\n')
  const again = await runCli(['init', target, '--yaml'])
  assert.equal(again.code, 2)
  assert.match(again.stderr, /pipeline\.yaml, .*pipeline\.test\.yaml already exist: not overwritten/)
  assert.equal(await readFile(join(target, 'pipeline.yaml'), 'utf8'), 'mine\n')
})

test('sluice test: a wrong expectation fails with exit 1 and a row diff', async () => {
  const target = join(dir, 'failing')
  assert.equal((await runCli(['init', target, '--yaml'])).code, 0)
  const file = join(target, 'pipeline.test.yaml')
  await writeFile(file, (await readFile(file, 'utf8')).replace('views: 1, clicks: 1', 'views: 1, clicks: 2'))
  const tested = await runCli(['test', file])
  assert.equal(tested.code, 1)
  assert.match(
    tested.stdout,
    / {2}✖ a view and a click on one page in one minute\n {6}output: expected 1 rows, got 1 {2}\(- expected, \+ actual\)\n {8}- \{"page":"\/","minute":"2026-11-25T10:00:00.000Z","views":1,"clicks":2\}\n {8}\+ \{"page":"\/","minute":"2026-11-25T10:00:00.000Z","views":1,"clicks":1\}\n/,
  )
  assert.match(tested.stdout, /1 passed, 1 failed\n$/)
  assert.match(tested.stderr, /sluice: 1 of 2 tests failed/)
})

test('sluice test: a bad test file is file:line:col with exit 2', async () => {
  const file = join(dir, 'bad.test.yaml')
  await writeFile(file, 'pipeline: x.yaml\ntests:\n  - name: t\n    inputs: []\n    output: []\n')
  const tested = await runCli(['test', file])
  assert.equal(tested.code, 2)
  assert.match(
    tested.stderr,
    /bad\.test\.yaml:4:5: .*unknown field of a test "inputs" \(did you mean "input"\?\)/,
  )
})

test('sluice lint: each problem file:line:col on stdout, exit 2', async () => {
  const file = join(dir, 'typo.yaml')
  await writeFile(
    file,
    'pipeline: p\nsource: { kafka: { topics: events } }\nschema: clickstream-event\nsteps:\n  - filter: "event.event_typo == \'click\'"\n  - dedupe: { key: event.id, within: 1m }\nsink: { console: {} }\n',
  )
  const linted = await runCli(['lint', file])
  assert.equal(linted.code, 2)
  const lines = linted.stdout.trim().split('\n')
  assert.equal(lines.length, 2)
  assert.match(
    lines[0] ?? '',
    /typo\.yaml:5:20: event has no field "event_typo" \(did you mean "event_type"\?\)/,
  )
  assert.match(lines[1] ?? '', /typo\.yaml:6:26: event has no field "id"/)
  assert.match(linted.stderr, /sluice: .*typo\.yaml: 2 problems/)
})
