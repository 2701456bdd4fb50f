import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { runCli, SLUICE_BIN } from '../helpers/cli.ts'
import { brokers } from '../helpers/kafka.ts'

let dir: string | undefined
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

const PIPELINES = ['clean-events', 'page-metrics', 'sessions', 'revenue-alerts']

/** Rows each pipeline has committed to its sink so far, from the Prometheus endpoint. */
async function outputRows(url: string, ns: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}metrics`)).text()
  const rows: Record<string, number> = {}
  for (const name of PIPELINES) {
    const line = text
      .split('\n')
      .find((l) => l.startsWith('sluice_output_rows_total{') && l.includes(`pipeline="${ns}${name}"`))
    rows[name] = line ? Number(line.split(' ').at(-1)) : 0
  }
  return rows
}

test('a first sluice start: every pipeline writes rows within its first minute, revenue-alerts too; sluice query reads the warehouse while it runs, read-only', async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-first-minute-'))
  const ns = `f${process.pid}-${Date.now()}.`
  // The defaults of `npm start` (200 events/s, five minutes of history on a first run), no duration.
  const child = spawn(
    process.execPath,
    [SLUICE_BIN, 'start', '--data-dir', dir, '--brokers', brokers(), '--namespace', ns],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString()
  })
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  try {
    let ready: number | undefined
    let rows: Record<string, number> = {}
    for (;;) {
      const url = /Dashboard: (http:\/\/\S+\/)/.exec(stderr)?.[1]
      if (ready === undefined && /^Kafka at /m.test(stderr)) ready = Date.now()
      if (url && ready !== undefined) {
        // A poll can meet the server closing a kept-alive connection (ECONNRESET): the next one asks again.
        rows = await outputRows(url, ns).catch(() => rows)
        if (PIPELINES.every((p) => (rows[p] ?? 0) > 0)) break
        assert.ok(
          Date.now() - ready < 60_000,
          `every pipeline writes rows within a minute; after 60 s: ${JSON.stringify(rows)}\n${stderr}`,
        )
      }
      assert.equal(child.exitCode, null, `sluice start ended early:\n${stderr}`)
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
    // DuckDB lets no other process open the warehouse while the job writes it: the job answers the query.
    const counted = await runCli(['query', '--data-dir', dir, 'SELECT count(*) AS n FROM page_metrics'])
    assert.equal(counted.code, 0, counted.stderr)
    const n = Number(/^\s*(\d+)\s*$/m.exec(counted.stdout)?.[1])
    assert.ok(n > 0, `page_metrics rows while the job runs:\n${counted.stdout}`)
    const writing = await runCli(['query', '--data-dir', dir, 'DELETE FROM page_metrics'])
    assert.equal(writing.code, 2, writing.stderr)
    assert.match(writing.stderr, /read-only queries \(SELECT, EXPLAIN\): statement 1 is DELETE/)
    const after = await runCli(['query', '--data-dir', dir, 'SELECT count(*) AS n FROM page_metrics'])
    assert.ok(Number(/^\s*(\d+)\s*$/m.exec(after.stdout)?.[1]) >= n, 'nothing was deleted')
    child.kill('SIGINT')
    assert.equal(await exited, 0, stderr)
    for (const name of PIPELINES) {
      const line = new RegExp(
        `^${`${ns}${name}`.replaceAll('.', '\\.')}\\s+(\\d+) processed, (\\d+) written`,
        'm',
      )
      const [, processed, written] = line.exec(stdout) ?? []
      assert.ok(Number(processed) > 0 && Number(written) > 0, `${name} in:\n${stdout}`)
    }
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL')
  }
})
