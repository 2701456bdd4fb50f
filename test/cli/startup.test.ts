import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { runCli, runNodeWith } from '../helpers/cli.ts'

/**
 * `sluice --version` and `--help` answer without loading what the commands need to run (Kafka clients,
 * DuckDB, the runtime): each command loads its implementation when it runs. The check is on what is
 * imported, not on time.
 */

const RECORD_IMPORTS = fileURLToPath(new URL('../fixtures/record-imports.ts', import.meta.url))
const COMMANDS = ['kafka', 'listen', 'start', 'produce', 'run', 'query']

async function packageVersion(): Promise<string> {
  const json = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string
  }
  return json.version
}

/** The packages under node_modules a `sluice …` call imported. */
async function importedPackages(args: readonly string[]): Promise<string[]> {
  const r = await runNodeWith(['--import', RECORD_IMPORTS], args)
  assert.equal(r.code, 0, r.stderr)
  const packages = new Set<string>()
  for (const line of r.stderr.split('\n')) {
    const match = /^import file:.*\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(line)
    if (match) packages.add(match[1]!)
  }
  return [...packages].sort()
}

describe('sluice --version and --help', () => {
  test('--version prints the version of package.json', async () => {
    const r = await runCli(['--version'])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, `${await packageVersion()}\n`)
  })

  test('--help lists every command', async () => {
    const r = await runCli(['--help'])
    assert.equal(r.code, 0, r.stderr)
    for (const command of COMMANDS) assert.match(r.stdout, new RegExp(`^  ${command}\\b`, 'm'))
    assert.match(r.stdout, /--version/)
  })

  for (const args of [['--help'], ['--version'], ...COMMANDS.map((c) => [c, '--help'])]) {
    test(`sluice ${args.join(' ')} imports no package but commander`, async () => {
      assert.deepEqual(await importedPackages(args), ['commander'])
    })
  }
})
