import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { compactIcebergTable } from '../../../../src/connectors/lake/iceberg/compact.ts'
import { clickstream, listAll, tempDir } from '../helpers.ts'
import { digestWithPyIceberg } from './pyiceberg.ts'
import { assertSameDigests, rowDigest } from './reference.ts'

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

/** Runs the writer; with `killAfterMs`, SIGKILLs it that long after its first committed batch. */
function runWriter(args: readonly string[], killAfterMs?: number) {
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
    const proc = spawn(process.execPath, [child, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    let timer: NodeJS.Timeout | undefined
    proc.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-8000)
    })
    proc.stdout.on('data', () => {
      if (killAfterMs !== undefined && timer === undefined)
        timer = setTimeout(() => proc.kill('SIGKILL'), killAfterMs)
    })
    proc.on('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stderr })
    })
  })
}

function tableExists(db: string, files: readonly string[]): boolean {
  if (!files.includes('catalog.db')) return false
  const catalog = new DatabaseSync(db)
  try {
    return (catalog.prepare('SELECT count(*) AS n FROM iceberg_tables').get() as { n: number }).n > 0
  } finally {
    catalog.close()
  }
}

describe('Iceberg lake: SIGKILL at random points during a 200k-event run', () => {
  test('PyIceberg reads whole batches after each kill, and every row once at the end, by content', {
    timeout: 900_000,
  }, async (t) => {
    const seed = Number(process.env.SLUICE_CRASH_SEED ?? Date.now() % 1_000_000)
    const next = random(seed)
    const input = clickstream(COUNT, 77)
    const dir = await tempDir()
    const db = join(dir, 'catalog.db')
    const folder = join(dir, 't')
    const args = [folder, db, join(dir, 'ckpt'), String(COUNT), String(BATCH)]
    const digestsByColumns = new Map<string, string[]>()
    /** The sorted digests of the input's first n rows as a table of these columns reads them. */
    const expectedPrefix = (n: number, names: readonly string[]): string[] => {
      const key = names.join('\n')
      const all = digestsByColumns.get(key) ?? input.map((row) => rowDigest(row, names))
      digestsByColumns.set(key, all)
      return all.slice(0, n).sort()
    }
    /** Batches commit in order: what a reader sees must be the first n input rows, n a multiple of BATCH. */
    const assertPrefix = async (): Promise<number> => {
      if (!tableExists(db, await listAll(dir))) return 0
      const scan = await digestWithPyIceberg(db, 'crash.events')
      const n = scan.rows
      assert.ok(n % BATCH === 0 || n === COUNT, `seed ${seed}: ${n} rows is not whole batches`)
      const names = scan.schema.map(([, name]) => name)
      assertSameDigests(
        scan.digests,
        expectedPrefix(n, names),
        `seed ${seed}: the rows read are not the input's first ${n}, once each`,
      )
      assert.equal(
        (await listAll(join(folder, 'data'))).length >= Number(scan.summary?.['total-data-files']),
        true,
      )
      return n
    }
    let kills = 0
    const visible: number[] = []
    for (let i = 0; i < KILLS; i++) {
      const result = await runWriter(args, Math.floor(next() * 4000))
      if (result.signal === 'SIGKILL') kills++
      else assert.equal(result.code, 0, `seed ${seed}: ${result.stderr}`)
      visible.push(await assertPrefix())
      if (result.code === 0) break
    }
    t.diagnostic(`seed ${seed}: ${kills} kills; rows visible after each: ${visible.join(', ')}`)
    assert.ok(kills > 0, `seed ${seed}: no run was killed`)
    const last = await runWriter(args)
    assert.equal(last.code, 0, `seed ${seed}: ${last.stderr}`)
    assert.equal(await assertPrefix(), COUNT, `seed ${seed}`)
    const scan = await digestWithPyIceberg(db, 'crash.events')
    assert.equal(
      (await listAll(join(folder, 'data'))).length,
      Number(scan.summary?.['total-data-files']),
      'no orphan data file is left',
    )
    // Compaction rewrites the many small files (one per partition and batch): still every row once.
    const compacted = await compactIcebergTable({
      catalog: { sqlite: db, table: 'crash.events' },
      targetFileBytes: 8_000_000,
    })
    t.diagnostic(`compaction: ${compacted.rewrittenFiles} files rewritten as ${compacted.addedFiles}`)
    assert.ok(compacted.addedFiles < compacted.rewrittenFiles / 5, `seed ${seed}`)
    assert.equal(await assertPrefix(), COUNT, `seed ${seed}: after compaction`)
  })
})
