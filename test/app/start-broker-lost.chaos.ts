import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { stopLocalKafka } from '../../src/local-kafka/cluster.ts'
import { SLUICE_BIN } from '../helpers/cli.ts'
import { brokerPids, OWN_BROKER, processesWith } from '../helpers/processes.ts'
import { waitFor } from '../helpers/wait.ts'

let dir: string | undefined
after(async () => {
  if (!dir) return
  await stopLocalKafka({ dataDir: join(dir, 'kafka'), graceMs: 10_000 })
  await rm(dir, { recursive: true, force: true })
})

test('the broker dies under `sluice start`: one line at once, then after the retry budget a summary, the cause and exit 1', {
  timeout: 300_000,
}, async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-broker-lost-'))
  const args = [
    'start',
    '--data-dir',
    dir,
    '--port',
    '0',
    '--history',
    '0',
    '--no-ui',
    '--retry-timeout',
    '8s',
  ]
  const job = spawn(process.execPath, [SLUICE_BIN, ...args], {
    env: { ...process.env, ...OWN_BROKER },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  job.stdout.on('data', (d: Buffer) => {
    stdout += d.toString()
  })
  job.stderr.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const exited = new Promise<number | null>((resolve) => job.on('close', resolve))
  await waitFor(() => / batch \d+ /.test(stderr), 120_000, 'the first status line')
  const [broker] = brokerPids(join(dir, 'kafka'))
  assert.ok(broker)
  process.kill(broker, 'SIGKILL')
  // Said while it retries, not only when it gives up.
  await waitFor(() => /unreachable/.test(stderr), 60_000, 'the line saying the broker is unreachable')
  assert.equal(job.exitCode, null, 'still retrying when it says so')
  const code = await exited

  assert.equal(code, 1, stderr)
  const unreachable = stderr.split('\n').filter((line) => /^Kafka at .* unreachable/.test(line))
  assert.equal(unreachable.length, 1, stderr)
  assert.match(unreachable[0] ?? '', /^Kafka at 127\.0\.0\.1:\d+ is unreachable .*; retrying for up to 8s/)
  assert.doesNotMatch(stderr, /"level":40/, 'no JSON warning per pipeline and restart')
  assert.match(stdout, /^Produced \d+ events/m, stdout)
  assert.match(stdout, /^clean-events +\d+ processed/m, stdout)
  assert.match(stderr, /^sluice: .*Kafka at 127\.0\.0\.1:\d+/m, stderr)
  assert.deepEqual(processesWith(dir), [], 'nothing of this data dir runs after the failure')
})
