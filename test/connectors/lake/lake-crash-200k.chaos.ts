import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { lakeTable } from '../../../src/connectors/lake/source.ts'
import { memory } from '../../../src/connectors/testing/memory.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { run } from '../../../src/runtime/run.ts'
import { startS3, type TestS3 } from '../../helpers/s3.ts'
import { canonical, clickstream, listAll, type Row, tempDir } from './helpers.ts'

const COUNT = 200_000
const BATCH = 5000
const KILLS = 5
const child = fileURLToPath(new URL('./crash-writer.ts', import.meta.url))

/** A small seeded generator (mulberry32), so that a failing run can be repeated with the seed it prints. */
function random(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface ChildResult {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stderr: string
  readonly batches: number
}

/** Runs the writer; with `killAfterMs`, SIGKILLs it that long after its first committed batch. */
function runWriter(
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  killAfterMs?: number,
): Promise<ChildResult> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [child, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    })
    let stderr = ''
    let batches = 0
    let timer: NodeJS.Timeout | undefined
    proc.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-8000)
    })
    proc.stdout.on('data', (d: Buffer) => {
      batches += d
        .toString()
        .split('\n')
        .filter((l) => l.startsWith('batch ')).length
      if (killAfterMs !== undefined && timer === undefined)
        timer = setTimeout(() => proc.kill('SIGKILL'), killAfterMs)
    })
    proc.on('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stderr, batches })
    })
  })
}

async function read(path: string, s3?: TestS3): Promise<Row[]> {
  const out = memory<Row>()
  await run(
    pipeline('crash-reader')
      .from(lakeTable<Row>({ path, ...(s3 ? { s3: s3.options } : {}) }))
      .to(out),
    {
      checkpoint: await tempDir(),
      trigger: { kind: 'availableNow' },
    },
  )
  return [...out.rows]
}

/** Rows a reader sees must be whole batches: exactly the rows of input[0, n) for n a multiple of BATCH. */
function assertWholeBatches(seen: readonly Row[], byId: ReadonlyMap<unknown, number>): void {
  const indexes = seen.map((r) => byId.get(r.event_id) ?? -1).sort((a, b) => a - b)
  assert.equal(seen.length % BATCH, 0, `${seen.length} rows is not whole batches`)
  indexes.forEach((index, i) => {
    assert.equal(index, i, `row ${i} of the input is missing or duplicated`)
  })
}

async function duckCount(glob: string): Promise<{ n: number; ids: number }> {
  const { DuckDBInstance } = await import('@duckdb/node-api')
  const db = await DuckDBInstance.create(':memory:')
  const connection = await db.connect()
  const reader = await connection.runAndReadAll(
    `SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM read_parquet('${glob}', hive_partitioning = true)`,
  )
  const row = reader.getRowObjects()[0] ?? {}
  connection.closeSync()
  db.closeSync()
  return { n: Number(row.n), ids: Number(row.ids) }
}

describe('lake sink: SIGKILL at random points during a 200k-event run', () => {
  const input = clickstream(COUNT, 77)
  const byId = new Map(input.map((r, i) => [r.event_id, i]))
  let s3: TestS3
  before(async () => {
    s3 = await startS3()
  })
  after(async () => {
    await s3?.stop()
  })

  const scenarios = [
    { name: 'local table, a commit per batch', mode: 'per-batch', store: 'local' },
    { name: 'S3 table, rolled by size (1 MiB files)', mode: 'roll', store: 's3' },
  ] as const
  for (const scenario of scenarios) {
    test(scenario.name, { timeout: 600_000 }, async (t) => {
      const seed = Number(process.env.SLUICE_CRASH_SEED ?? Date.now() % 1_000_000)
      const next = random(seed)
      const dir = await tempDir()
      const name = `crash-${scenario.mode}`
      const table = scenario.store === 's3' ? `s3://${s3.bucket}/${name}` : join(dir, name)
      const files = scenario.store === 's3' ? join(s3.bucketDir, name) : table
      const env = scenario.store === 's3' ? s3.env : {}
      const args = [table, join(dir, 'ckpt'), String(COUNT), scenario.mode]
      let kills = 0
      const visible: number[] = []
      for (let i = 0; i < KILLS; i++) {
        const delay = Math.floor(next() * 2500)
        const result = await runWriter(args, env, delay)
        if (result.signal === 'SIGKILL') kills++
        else assert.equal(result.code, 0, `seed ${seed}: ${result.stderr}`)
        const seen = (await listAll(join(files, '_sluice_log'))).length > 0 ? await read(table, s3) : []
        assertWholeBatches(seen, byId)
        visible.push(seen.length)
        if (result.code === 0) break
      }
      t.diagnostic(`seed ${seed}: ${kills} kills; rows visible after each: ${visible.join(', ')}`)
      assert.ok(kills > 0, `seed ${seed}: no run was killed`)
      const last = await runWriter(args, env)
      assert.equal(last.code, 0, `seed ${seed}: ${last.stderr}`)

      const output = await read(table, s3)
      assert.equal(output.length, COUNT, `seed ${seed}`)
      assertWholeBatches(output, byId)
      for (const row of output)
        assert.equal(canonical(row), canonical(input[byId.get(row.event_id) as number]))
      assert.deepEqual(
        (await listAll(files)).filter((f) => f.startsWith('.sluice-staging/')),
        [],
        'no staging, spool or orphan left',
      )
      // DuckDB reads the files as they lie (on S3: the server's POSIX backend keeps objects as files).
      assert.deepEqual(await duckCount(join(files, '**', '*.parquet')), { n: COUNT, ids: COUNT })
    })
  }
})
