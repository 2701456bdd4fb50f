import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { chmod, mkdtemp, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))

test('.ci/run runs the README test command, and npm test sets up what the suite needs first', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  assert.match(readme, /^npm test {2,}# /m, 'the README names `npm test` as the test command')
  const ci = readFileSync(join(root, '.ci/run'), 'utf8')
  const commands = ci
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#') && !l.startsWith('set ') && !l.startsWith('cd '))
  assert.deepEqual(commands, ['npm ci --no-audit --no-fund', 'npm test'])
  const scripts = (
    JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  ).scripts
  assert.equal(scripts.pretest, 'scripts/test-setup.sh')
})

test('test-setup says, one line each, what a machine without root lacks, and fails', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root to run the script as another user')
  // A PATH with bash and coreutils only: every server and tool is missing.
  const bin = await mkdtemp(join(tmpdir(), 'sluice-setup-'))
  await chmod(bin, 0o755)
  t.after(() => rm(bin, { recursive: true, force: true }))
  for (const tool of ['bash', 'sed', 'head', 'id', 'env', 'dirname'])
    await symlink(`/usr/bin/${tool}`, join(bin, tool))
  const result = await new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(
      'runuser',
      ['-u', 'nobody', '--', '/usr/bin/env', `PATH=${bin}`, 'bash', join(root, 'scripts/test-setup.sh')],
      (error, _stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stderr }),
    )
  })
  assert.equal(result.code, 1)
  const lines = result.stderr.trim().split('\n')
  for (const piece of ['openjdk-17-jre-headless', 'maven', 'mariadb-server', 'redis-server', 'golang-go'])
    assert.ok(
      lines.some((l) => l.startsWith(`test-setup: missing ${piece} (`)),
      `names ${piece}: ${result.stderr}`,
    )
  assert.match(lines.at(-1)!, /install the above/)
})
