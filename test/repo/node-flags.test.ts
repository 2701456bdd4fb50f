import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { SLUICE_NODE_FLAGS } from '../../src/cli/node-flags.ts'

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8')

test("bin/sluice.js's shebang and the npm scripts that start Sluice carry its V8 flags", () => {
  const flags = SLUICE_NODE_FLAGS.join(' ')
  assert.equal(read('bin/sluice.js').split('\n')[0], `#!/usr/bin/env -S node ${flags}`)
  const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts
  for (const name of ['start', 'sluice'])
    assert.match(scripts[name] ?? '', new RegExp(`^node ${flags} bin/sluice\\.js`), `npm run ${name}`)
})
