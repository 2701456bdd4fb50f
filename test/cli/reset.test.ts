import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { KafkaAdmin } from '../../src/connectors/kafka/admin.ts'
import { runCli, SLUICE_BIN } from '../helpers/cli.ts'
import { brokers, topicExists } from '../helpers/kafka.ts'
import { waitFor } from '../helpers/wait.ts'

const EXAMPLE = fileURLToPath(new URL('../../examples/revenue-alerts.yaml', import.meta.url))
let dir: string | undefined
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

async function groupMembers(group: string): Promise<number> {
  const admin = new KafkaAdmin({ brokers: brokers() })
  try {
    return (await admin.describeGroup(group)).members.length
  } finally {
    await admin.close()
  }
}

async function groups(): Promise<string[]> {
  const admin = new KafkaAdmin({ brokers: brokers() })
  try {
    return await admin.listGroups()
  } finally {
    await admin.close()
  }
}

test('a stateful pipeline whose checkpoint is gone says to run sluice reset; reset starts it over', {
  timeout: 300_000,
}, async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-reset-'))
  const ns = `reset${process.pid}-${Date.now()}.`
  const id = `${ns}revenue-alerts-yaml`
  const group = `sluice-${id}`
  const env = { SLUICE_NAMESPACE: ns }
  const produced = await runCli(
    [
      'produce',
      '--brokers',
      brokers(),
      '--topic',
      `${ns}events`,
      '--count',
      '3000',
      '--seed',
      '7',
      '--rate',
      'unlimited',
    ],
    { timeoutMs: 60_000 },
  )
  assert.equal(produced.code, 0, produced.stderr)
  const checkpoint = join(dir, 'checkpoints', id)
  const runArgs = ['run', EXAMPLE, '--available-now', '--brokers', brokers(), '--checkpoint', checkpoint]
  const first = await runCli(runArgs, { env, timeoutMs: 120_000 })
  assert.equal(first.code, 0, first.stderr)

  // A fresh data directory on a used broker: the group's committed offsets are ahead of a checkpoint that is not there.
  await rm(join(dir, 'checkpoints'), { recursive: true })
  const fresh = await runCli(runArgs, { env, timeoutMs: 120_000 })
  assert.equal(fresh.code, 2, fresh.stderr)
  const lines = fresh.stderr.trim().split('\n')
  assert.equal(lines.length, 1, `one line, no stack trace:\n${fresh.stderr}`)
  assert.match(lines[0]!, new RegExp(`^sluice: .*run \`sluice reset ${id.replaceAll('.', '\\.')}\``))
  assert.doesNotMatch(fresh.stderr, /\n\s+at /)

  // An internal topic of the pipeline's state, as a scaled-out run creates it.
  const admin = new KafkaAdmin({ brokers: brokers() })
  const changelog = `${id}-compare-windows-changelog`
  try {
    await admin.createTopic(changelog, { partitions: 3 })
  } finally {
    await admin.close()
  }
  const resetArgs = ['reset', id, '--brokers', brokers(), '--data-dir', dir]

  const dryRun = await runCli([...resetArgs, '--dry-run'], { timeoutMs: 60_000 })
  assert.equal(dryRun.code, 0, dryRun.stderr)
  assert.match(dryRun.stdout, new RegExp(`consumer group +${group.replaceAll('.', '\\.')}`))
  assert.match(dryRun.stdout, new RegExp(`topic +${changelog.replaceAll('.', '\\.')}\n`))
  assert.ok((await groups()).includes(group), 'a dry run deletes nothing')

  const unasked = await runCli(resetArgs, { timeoutMs: 60_000 })
  assert.equal(unasked.code, 2)
  assert.match(unasked.stderr, /stdin is not a terminal: pass --yes/)
  assert.ok(await topicExists(changelog), 'refused: nothing deleted')

  const reset = await runCli([...resetArgs, '--yes'], { timeoutMs: 60_000 })
  assert.equal(reset.code, 0, reset.stderr)
  assert.ok(!(await groups()).includes(group), 'the consumer group is gone')
  assert.ok(!(await topicExists(changelog)), 'the changelog topic is gone')
  for (const topic of ['events', 'alerts', 'alerts.dlq'])
    assert.ok(await topicExists(`${ns}${topic}`), `${topic} stays`)
  assert.ok(!existsSync(checkpoint))

  const again = await runCli(runArgs, { env, timeoutMs: 120_000 })
  assert.equal(again.code, 0, again.stderr)
  assert.match(again.stderr, /: 3000 records in /, 'the pipeline read its input from the start again')

  // While the pipeline runs (its group has a member), reset refuses.
  const running = spawn(
    process.execPath,
    [SLUICE_BIN, 'run', EXAMPLE, '--brokers', brokers(), '--checkpoint', checkpoint],
    {
      env: { ...process.env, ...env },
      stdio: 'ignore',
    },
  )
  try {
    await waitFor(
      async () => (await groupMembers(group)) > 0,
      60_000,
      'the running pipeline to join its group',
    )
    const refused = await runCli([...resetArgs, '--yes'], { timeoutMs: 60_000 })
    assert.equal(refused.code, 1, refused.stderr)
    assert.match(refused.stderr, /is running: its consumer group .* has 1 active member/)
    assert.ok(existsSync(checkpoint) && (await groups()).includes(group), 'refused: nothing deleted')
  } finally {
    running.kill('SIGTERM')
    await new Promise((resolve) => running.once('exit', resolve))
  }
})
