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
 * `${VAR}` values are data of the place they go (issue 14, item 6): a string literal in an expression, a path
 * that stays inside the folder before it. The strings below hold the file's ${VAR} syntax.
 */
/* biome-ignore-start lint/suspicious/noTemplateCurlyInString: YAML environment references */

let dir: string
let n = 0
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-env-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function runFilter(filter: string, env: Record<string, string>, values: readonly unknown[]) {
  const sink = memory()
  const text = `pipeline: p\nsource: { generator: { count: 1 } }\nsteps:\n  - filter: ${JSON.stringify(filter)}\nsink: { console: }\n`
  const p = await parsePipelineYaml(text, {
    file: 'p.yaml',
    env,
    overrides: {
      source: memorySource(
        'in',
        values.map((v) => JSON.stringify(v)),
      ) as SourceSpec,
      sink,
    },
  })
  await run(p, { checkpoint: join(dir, `cp-${n++}`), trigger: { kind: 'availableNow' } })
  return sink.rows
}

async function problemsOf(text: string, env: Record<string, string>): Promise<string[]> {
  try {
    await parsePipelineYaml(text, { file: 'p.yaml', env })
  } catch (error) {
    assert.ok(error instanceof PipelineFileError, `expected a PipelineFileError, got ${String(error)}`)
    return error.message.split('\n')
  }
  assert.fail('the file was accepted')
}

const hostile = "x' || true || '' == '"
const users = [{ user: 'alice' }, { user: hostile }, { user: 'x' }]

test('a value cannot change what a filter means: inside quotes it is escaped', async () => {
  const rows = await runFilter("event.user == '${USER_ID}'", { USER_ID: hostile }, users)
  assert.deepEqual(rows, [{ user: hostile }])
})

test('a value standing in code becomes a quoted string literal', async () => {
  assert.deepEqual(await runFilter('event.user == ${USER_ID}', { USER_ID: hostile }, users), [
    { user: hostile },
  ])
  const odd = 'a"b\\c\nd\u0001'
  assert.deepEqual(await runFilter('event.user == ${ODD}', { ODD: odd }, [{ user: odd }, { user: 'abcd' }]), [
    { user: odd },
  ])
  // A default is a literal too; ${...} outside expressions is unchanged text.
  assert.deepEqual(await runFilter('event.user in [${A:-alice}, "${B:-x}"]', {}, users), [
    { user: 'alice' },
    { user: 'x' },
  ])
})

test('a value where it cannot be a literal is refused, naming the variable and the field', async () => {
  const file = (filter: string) =>
    `pipeline: p\nsource: { generator: { count: 1 } }\nsteps:\n  - filter: ${JSON.stringify(filter)}\nsink: { console: }\n`
  assert.deepEqual(await problemsOf(file("event.user == r'${U}'"), { U: 'a' }), [
    'p.yaml:4:30: environment variable U in steps[0].filter: stands in a raw string (r"…"), where its value cannot be escaped; use a plain string',
  ])
  assert.deepEqual(await problemsOf(file("event.user == 'a\\${U}'"), { U: "'" }), [
    'p.yaml:4:32: environment variable U in steps[0].filter: follows a backslash in a string, which would take its first character as an escape',
  ])
})

const lakeFile = (path: string) =>
  `pipeline: p\nsource: { generator: { count: 1 } }\nsink: { lake: { path: "${path}", format: jsonl } }\n`

test('a path value cannot leave the folder before it', async () => {
  assert.deepEqual(await problemsOf(lakeFile('data/lake/${TABLE}'), { TABLE: '../../escaped' }), [
    'p.yaml:3:34: environment variable TABLE in sink.lake.path: its value has a ".." segment, which would leave the folder before it; give a name inside it',
  ])
  assert.deepEqual(await problemsOf(lakeFile('data/lake/${TABLE}'), { TABLE: '/etc' }), [
    'p.yaml:3:34: environment variable TABLE in sink.lake.path: its value is an absolute path or URL, which would leave the folder before it; give a relative one',
  ])
  assert.deepEqual(
    await problemsOf(
      'pipeline: p\nsource: { files: { path: "in/${F}", format: jsonl } }\nsink: { console: }\n',
      { F: 'a/..\\..\\x' },
    ),
    [
      'p.yaml:2:30: environment variable F in source.files.path: its value has a ".." segment, which would leave the folder before it; give a name inside it',
    ],
  )
})

test('a variable that starts a path chooses its base; names inside it are fine', async () => {
  const p = await parsePipelineYaml(lakeFile('${DATA_DIR:-data}/lake/${TABLE}'), {
    file: 'p.yaml',
    env: { DATA_DIR: '/srv/sluice', TABLE: 'events/2026' },
  })
  const sink = p.plan.nodes.at(-1)
  assert.ok(sink?.kind === 'sink')
  assert.equal(sink.sink.options.path, '/srv/sluice/lake/events/2026')
})
/* biome-ignore-end lint/suspicious/noTemplateCurlyInString: YAML environment references */
