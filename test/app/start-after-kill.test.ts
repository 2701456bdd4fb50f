import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { stopLocalKafka } from '../../src/local-kafka/cluster.ts'
import { runCli, SLUICE_BIN } from '../helpers/cli.ts'
import { brokerPids, OWN_BROKER, processesWith } from '../helpers/processes.ts'
import { waitFor } from '../helpers/wait.ts'

let dir: string | undefined
after(async () => {
  if (!dir) return
  await stopLocalKafka({ dataDir: join(dir, 'kafka'), graceMs: 10_000 })
  await rm(dir, { recursive: true, force: true })
})

test('the broker a SIGKILLed `sluice start` left running is taken over and stopped by the next start', {
  timeout: 300_000,
}, async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-after-kill-'))
  const args = ['start', '--data-dir', dir, '--port', '0', '--history', '0', '--no-ui']
  const first = spawn(process.execPath, [SLUICE_BIN, ...args], {
    env: { ...process.env, ...OWN_BROKER },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  first.stderr.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const exited = new Promise((resolve) => first.on('close', resolve))
  await waitFor(() => /^Kafka at /m.test(stderr), 120_000, 'the local broker')
  first.kill('SIGKILL')
  await exited
  const [broker] = brokerPids(join(dir, 'kafka'))
  assert.ok(
    broker && processesWith(join(dir, 'kafka')).includes(broker),
    'the killed start left its broker up',
  )

  const second = await runCli([...args, '--duration', '3s'], { env: OWN_BROKER, timeoutMs: 120_000 })
  assert.equal(second.code, 0, second.stderr)
  assert.deepEqual(processesWith(dir), [], 'nothing of this data dir runs after the clean stop')
  assert.match(
    second.stderr,
    /left running by a `sluice start` that ended without stopping it/,
    second.stderr,
  )
  assert.match(second.stdout, /^Produced \d+ events/m)
})
