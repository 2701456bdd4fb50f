import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { runCli } from '../helpers/cli.ts'
import { brokers } from '../helpers/kafka.ts'

let dir: string | undefined
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

function numbers(stdout: string) {
  const produced = Number(/^Produced (\d+) events/m.exec(stdout)?.[1])
  const processed = Number(/^clean-events\s+(\d+) processed/m.exec(stdout)?.[1])
  const deadLettered = Number(
    /^clean-events\s+\d+ processed, \d+ written, (\d+) dead-lettered/m.exec(stdout)?.[1],
  )
  return { produced, processed, deadLettered }
}

test('sluice start runs for a duration, prints a summary, and a second start resumes from the checkpoints', async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-start-'))
  const args = ['start', '--duration', '6s', '--rate', '300', '--data-dir', dir, '--brokers', brokers()]
  const first = await runCli(args, { timeoutMs: 90_000 })
  assert.equal(first.code, 0, first.stderr)
  assert.match(first.stderr, /listen: +npx sluice listen/)
  const a = numbers(first.stdout)
  assert.ok(a.produced >= 1000, first.stdout)
  assert.equal(a.processed, a.produced, 'the pipelines drained what was produced')
  assert.ok(a.deadLettered > 0, 'malformed events were dead-lettered')
  assert.match(first.stdout, /^page-metrics +\d+ processed, [1-9]\d* written/m)

  const second = await runCli(args, { timeoutMs: 90_000 })
  assert.equal(second.code, 0, second.stderr)
  const b = numbers(second.stdout)
  assert.equal(b.processed, b.produced, 'the second run processed only the new events')
})
