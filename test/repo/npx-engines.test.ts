import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

/**
 * `npx sluice` on a machine whose own node is older than Sluice's (the project brings Node 24 as its `node`
 * dev dependency) prints no EBADENGINE warnings. npx runs under the system's node and links the project
 * into its cache on first use, checking the package's `engines` against that node: a package.json `engines`
 * field made every such link print a screen of warnings. The test needs such an older node with npm on PATH.
 */

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
/** PATH without any node_modules/.bin, as a user's shell has it. */
const SYSTEM_PATH = (process.env.PATH ?? '')
  .split(delimiter)
  .filter((dir) => !dir.includes('node_modules'))
  .join(delimiter)

async function systemNodeMajor(): Promise<number | undefined> {
  try {
    const { stdout } = await run('node', ['--version'], { env: { ...process.env, PATH: SYSTEM_PATH } })
    await run('npx', ['--version'], { env: { ...process.env, PATH: SYSTEM_PATH } })
    return Number(/^v(\d+)/.exec(stdout)?.[1])
  } catch {
    return undefined
  }
}

const major = await systemNodeMajor()

test('npx sluice under an older system node prints no EBADENGINE warnings', {
  skip: major === undefined || major >= 22 ? 'needs a node older than 22 with npm on PATH' : false,
}, async () => {
  const version = (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string })
    .version
  // A fresh npx cache: the warnings came when npx linked the project into it.
  const cache = await mkdtemp(join(tmpdir(), 'sluice-npx-cache-'))
  try {
    for (const call of ['first', 'second']) {
      const { stdout, stderr } = await run('npx', ['sluice', '--version'], {
        cwd: ROOT,
        env: {
          ...process.env,
          PATH: SYSTEM_PATH,
          npm_config_cache: cache,
          npm_config_update_notifier: 'false',
        },
      })
      assert.equal(stdout, `${version}\n`, `${call} call`)
      assert.doesNotMatch(stderr, /EBADENGINE/, `${call} call`)
    }
  } finally {
    await rm(cache, { recursive: true, force: true })
  }
})
