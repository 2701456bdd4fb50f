import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { stopLocalKafka } from '../../src/local-kafka/cluster.ts'
import { SLUICE_BIN } from '../helpers/cli.ts'
import { processesWith, shellPipeline } from '../helpers/processes.ts'
import { waitFor } from '../helpers/wait.ts'

let dir: string | undefined
after(async () => {
  if (!dir) return
  await stopLocalKafka({ dataDir: join(dir, 'data', 'kafka'), graceMs: 10_000 })
  await rm(dir, { recursive: true, force: true })
})

function filesUnder(root: string): string[] {
  return readdirSync(root, { recursive: true, encoding: 'utf8' })
}

test('Ctrl-C on `sluice start | tee log`: the summary still reaches the terminal and a file, no EPIPE, nothing left behind', {
  timeout: 300_000,
}, async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-interrupt-'))
  const data = join(dir, 'data')
  const err = join(dir, 'err')
  // Its own local broker, so that "nothing left running" covers the broker the command started.
  const pipeline = shellPipeline(
    `$SLUICE start --data-dir ${data} --port 0 --history 0 --no-ui 2>${err} | tee ${join(dir, 'log')}`,
  )
  await waitFor(
    () => existsSync(err) && / batch \d+ /.test(readFileSync(err, 'utf8')),
    120_000,
    'the first status line',
  )
  const [sluice] = processesWith(SLUICE_BIN).filter((pid) => processesWith(data).includes(pid))
  assert.ok(sluice, 'the sluice process is running')
  // The terminal's Ctrl-C reaches the whole group (tee too); npm then forwards it to its child a second time.
  process.kill(-pipeline.pgid, 'SIGINT')
  process.kill(sluice, 'SIGINT')
  await pipeline.closed
  await waitFor(() => processesWith(data).length === 0, 120_000, 'every process of the data dir to end')

  const stderr = readFileSync(err, 'utf8')
  assert.doesNotMatch(stderr, /EPIPE|^\s+at /m, stderr)
  // tee died with the Ctrl-C: the summary comes on stderr (the terminal) instead, and in a file it names.
  assert.match(stderr, /^Produced \d+ events/m, stderr)
  assert.match(stderr, /^clean-events +\d+ processed/m, stderr)
  const saved = join(data, 'last-summary.txt')
  assert.ok(stderr.includes(saved), stderr)
  assert.match(readFileSync(saved, 'utf8'), /^Produced \d+ events[\s\S]*^Warehouse /m)
  const leftovers = filesUnder(data).filter((f) => /\.tmp\b|\.tmp-|\.wal$/.test(f))
  assert.deepEqual(leftovers, [], 'no temporary files under the data dir')
})
