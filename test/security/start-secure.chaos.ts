import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { DuckDBInstance } from '@duckdb/node-api'
import { stopLocalKafka } from '../../src/local-kafka/cluster.ts'
import type { LocalKafkaSecurity } from '../../src/local-kafka/security.ts'
import { type CliResult, runCli, SLUICE_BIN } from '../helpers/cli.ts'
import { waitFor } from '../helpers/wait.ts'

// The global setup's plain broker is in $KAFKA_BROKERS: these runs must use the local broker they start.
const noBrokers = { KAFKA_BROKERS: '' }

describe('sluice start and Kafka security', { timeout: 900_000 }, () => {
  let dir: string | undefined
  after(async () => {
    if (!dir) return
    await stopLocalKafka({ dataDir: join(dir, 'kafka'), graceMs: 10_000 })
    await rm(dir, { recursive: true, force: true })
  })

  it('--secure: the main job on the secured local broker, exactly once across a Ctrl-C, no secret in any output', async () => {
    const data = dir ?? (await mkdtemp(join(tmpdir(), 'sluice-start-secure-')))
    dir = data
    const args = ['start', '--secure', '--data-dir', data, '--port', '0', '--history', '0', '--rate', '300']

    // First run: read the dashboard and /metrics while it runs, then Ctrl-C.
    const child = spawn(process.execPath, [SLUICE_BIN, ...args], {
      env: { ...process.env, ...noBrokers },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString()
    })
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve))
    const served: string[] = []
    try {
      await waitFor(() => /Dashboard: (http\S+)/.test(stderr), 60_000, 'the dashboard line')
      const url = /Dashboard: (http\S+)/.exec(stderr)?.[1] ?? ''
      // Every pipeline has run batches and dead letters (1 % of the events are malformed) are on show.
      await waitFor(
        async () => {
          if (child.exitCode !== null) throw new Error(`sluice start ended early:\n${stderr}`)
          const snapshot = (await (await fetch(`${url}api/snapshot`)).json()) as {
            pipelines: { totals: { batches: number } }[]
            deadLetters: unknown[]
          }
          return (
            snapshot.pipelines.length === 4 &&
            snapshot.pipelines.every((p) => p.totals.batches > 1) &&
            snapshot.deadLetters.length > 0
          )
        },
        300_000,
        'every pipeline to run on the secured broker',
      )
      for (const path of ['api/snapshot', 'metrics', ''])
        served.push(await (await fetch(`${url}${path}`)).text())
    } finally {
      child.kill('SIGINT')
    }
    const first: CliResult = { code: await exited, stdout, stderr }
    assert.equal(first.code, 0, first.stderr)
    assert.match(first.stderr, /Kafka at 127\.0\.0\.1:\d+ \(SASL_SSL, SCRAM-SHA-512 as its super user\)/)
    assert.match(
      first.stderr,
      /listen: +npx sluice listen --brokers \S+ --kafka-config \S+client\.properties/,
    )
    const firstSummary = await readFile(join(data, 'last-summary.txt'), 'utf8')

    // Second run: resumes from the checkpoints on the same (restarted, still secured) broker and drains.
    const second = await runCli([...args, '--duration', '5s'], { env: noBrokers, timeoutMs: 400_000 })
    assert.equal(second.code, 0, second.stderr)
    const secondSummary = await readFile(join(data, 'last-summary.txt'), 'utf8')

    const a = summary(first.stdout)
    const b = summary(second.stdout)
    assert.ok(a.produced > 0 && b.produced > 0, `${first.stdout}\n${second.stdout}`)
    for (const name of PIPELINES) {
      assert.equal(
        (a.pipelines[name]?.processed ?? 0) + (b.pipelines[name]?.processed ?? 0),
        a.produced + b.produced,
        `${name} processed each event once:\n${first.stdout}\n${second.stdout}`,
      )
    }
    const written = (a.pipelines['clean-events']?.written ?? 0) + (b.pipelines['clean-events']?.written ?? 0)
    assert.equal(await parquetRows(join(data, 'lake', 'events')), written)

    const security = JSON.parse(
      await readFile(join(data, 'kafka', 'security', 'security.json'), 'utf8'),
    ) as LocalKafkaSecurity
    const secrets = [security.admin.password, security.user.password, security.keystorePassword]
    const outputs = {
      'first run stdout': first.stdout,
      'first run stderr': first.stderr,
      'second run stdout': second.stdout,
      'second run stderr': second.stderr,
      'first last-summary.txt': firstSummary,
      'second last-summary.txt': secondSummary,
      '/api/snapshot': served[0] ?? '',
      '/metrics': served[1] ?? '',
      'the dashboard page': served[2] ?? '',
    }
    for (const [what, text] of Object.entries(outputs)) {
      for (const secret of secrets) assert.ok(!text.includes(secret), `a password is in the ${what}`)
    }
    // Everything the job wrote besides the broker's own files (its config and security dir hold them by design).
    for (const name of await readdir(data, { recursive: true })) {
      if (name === 'kafka' || name.startsWith(`kafka/`)) continue
      const content = await readFile(join(data, name)).catch(() => Buffer.alloc(0))
      for (const secret of secrets) assert.ok(!content.includes(secret), `a password is in ${name}`)
    }
  })
})

const PIPELINES = ['clean-events', 'page-metrics', 'sessions', 'revenue-alerts'] as const

function summary(stdout: string) {
  const pipelines: Record<string, { processed: number; written: number }> = {}
  for (const name of PIPELINES) {
    const m = new RegExp(`^${name}\\s+(\\d+) processed, (\\d+) written`, 'm').exec(stdout)
    assert.ok(m, `no summary line for ${name} in:\n${stdout}`)
    pipelines[name] = { processed: Number(m[1]), written: Number(m[2]) }
  }
  return { produced: Number(/^Produced (\d+) events/m.exec(stdout)?.[1]), pipelines }
}

/** Counted apart from Sluice: DuckDB reads the lake's Parquet files; no event may be there twice. */
async function parquetRows(lake: string): Promise<number> {
  const instance = await DuckDBInstance.create(':memory:')
  const connection = await instance.connect()
  try {
    const reader = await connection.runAndReadAll(
      `SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM read_parquet('${lake}/event_date=*/event_type=*/*.parquet', hive_partitioning = true)`,
    )
    const row = reader.getRowObjectsJS()[0] as { n: bigint; ids: bigint }
    assert.equal(row.n, row.ids, 'no event is in the lake twice')
    return Number(row.n)
  } finally {
    connection.closeSync()
    instance.closeSync()
  }
}
