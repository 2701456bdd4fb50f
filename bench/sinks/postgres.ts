/**
 * Rows per second into PostgreSQL: the `postgres()` sink (append with COPY, upsert through a COPY-filled
 * staging table) against `pg` + `pg-copy-streams` writing the same rows outside Sluice, in the same run, on the
 * same server. Also compares the upsert strategies the sink could use.
 *
 *   node bench/sinks/postgres.ts [--rows 1000000] [--batch 50000] [--repeat 2] [--out FILE]
 *
 * Each variant runs --repeat times, interleaved with the others (so server-side drift such as WAL growth
 * and checkpoints hits them alike); the best run of each is reported.
 * Uses DATABASE_URL when set (tables are created in a fresh schema and dropped), otherwise a private
 * PostgreSQL cluster like the tests (fsync off: it measures the client path, not the disk).
 */
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import { escapeCopyText } from '../../src/connectors/postgres/columns.ts'
import { postgres } from '../../src/connectors/postgres/index.ts'
import { memorySource } from '../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { run } from '../../src/runtime/run.ts'
import type { SinkWriter } from '../../src/runtime/sink.ts'
import type { SourceReader } from '../../src/runtime/source.ts'
import { startPostgres } from '../../test/helpers/postgres.ts'

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    batch: { type: 'string', default: '50000' },
    repeat: { type: 'string', default: '2' },
    out: { type: 'string' },
  },
})
const N = Number(args.rows)
const BATCH = Number(args.batch)
const REPEAT = Number(args.repeat)

/** A simple, flat clickstream-like row. */
interface Click {
  event_id: string
  event_type: string
  event_time: string
  user_id: string
  session_id: string
  platform: string
  country: string
  page_path: string
  price: number | null
}

const TYPES = ['page_view', 'page_view', 'page_view', 'click', 'search', 'add_to_cart', 'purchase']
const PLATFORMS = ['web', 'ios', 'android']
const COUNTRIES = ['DE', 'FR', 'US', 'GB', 'NL', 'ES', 'IT', 'PL']
function makeRows(n: number): Click[] {
  let s = 42
  const rand = () => {
    s = (s * 1103515245 + 12345) % 2147483648
    return s / 2147483648
  }
  const t0 = Date.parse('2026-03-02T09:00:00Z')
  return Array.from({ length: n }, (_, i) => {
    const type = TYPES[Math.floor(rand() * TYPES.length)]!
    return {
      event_id: `e-${i.toString(16).padStart(12, '0')}`,
      event_type: type,
      event_time: new Date(t0 + i * 3).toISOString(),
      user_id: `u-${String(Math.floor(rand() * 100_000)).padStart(6, '0')}`,
      session_id: `s-${Math.floor(rand() * 2 ** 48)
        .toString(16)
        .padStart(16, '0')}`,
      platform: PLATFORMS[Math.floor(rand() * 3)]!,
      country: COUNTRIES[Math.floor(rand() * COUNTRIES.length)]!,
      page_path: `/p/p-${String(Math.floor(rand() * 500)).padStart(4, '0')}`,
      price: type === 'purchase' || type === 'add_to_cart' ? Math.round(rand() * 20000) / 100 : null,
    }
  })
}

const COLUMNS = [
  'event_id',
  'event_type',
  'event_time',
  'user_id',
  'session_id',
  'platform',
  'country',
  'page_path',
  'price',
] as const
const DDL = `(event_id text, event_type text, event_time timestamptz, user_id text, session_id text, platform text,
  country text, page_path text, price double precision)`
const DDL_PK = DDL.replace('event_id text', 'event_id text PRIMARY KEY')

function copyLine(r: Click): string {
  let line = ''
  for (let c = 0; c < COLUMNS.length; c++) {
    const v = r[COLUMNS[c]!]
    line += (c > 0 ? '\t' : '') + (v === null ? '\\N' : escapeCopyText(String(v)))
  }
  return `${line}\n`
}

async function copy(client: pg.PoolClient, sql: string, rows: readonly Click[]): Promise<void> {
  const stream = client.query(copyFrom(sql))
  await new Promise<void>((resolve, reject) => {
    stream.on('error', reject)
    stream.on('finish', resolve)
    let i = 0
    const pump = () => {
      while (i < rows.length) {
        let chunk = ''
        while (i < rows.length && chunk.length < 1 << 20) chunk += copyLine(rows[i++]!)
        if (!stream.write(chunk)) return void stream.once('drain', pump)
      }
      stream.end()
    }
    pump()
  })
}

function batches<T>(rows: readonly T[]): T[][] {
  const out: T[][] = []
  for (let i = 0; i < rows.length; i += BATCH) out.push(rows.slice(i, i + BATCH))
  return out
}

const cols = COLUMNS.join(', ')
const updates = COLUMNS.filter((c) => c !== 'event_id')
  .map((c) => `${c} = EXCLUDED.${c}`)
  .join(', ')

/** Raw strategies: one transaction per batch, as the sink does. */
const raw = {
  async appendCopy(client: pg.PoolClient, table: string, batch: readonly Click[]) {
    await copy(client, `COPY ${table} (${cols}) FROM STDIN`, batch)
  },
  async upsertStage(client: pg.PoolClient, table: string, batch: readonly Click[]) {
    await client.query(`CREATE TEMP TABLE stage ON COMMIT DROP AS SELECT ${cols} FROM ${table} WITH NO DATA`)
    await copy(client, `COPY stage (${cols}) FROM STDIN`, batch)
    await client.query(
      `INSERT INTO ${table} (${cols}) SELECT ${cols} FROM stage ON CONFLICT (event_id) DO UPDATE SET ${updates}`,
    )
  },
  async upsertValues(client: pg.PoolClient, table: string, batch: readonly Click[]) {
    const perStatement = Math.floor(65535 / COLUMNS.length)
    for (let i = 0; i < batch.length; i += perStatement) {
      const chunk = batch.slice(i, i + perStatement)
      const params: unknown[] = []
      const tuples = chunk.map((r) => {
        const start = params.length
        for (const c of COLUMNS) params.push(r[c])
        return `(${COLUMNS.map((_, j) => `$${start + j + 1}`).join(', ')})`
      })
      await client.query(
        `INSERT INTO ${table} (${cols}) VALUES ${tuples.join(', ')} ON CONFLICT (event_id) DO UPDATE SET ${updates}`,
        params,
      )
    }
  },
  async upsertUnnest(client: pg.PoolClient, table: string, batch: readonly Click[]) {
    const types = ['text', 'text', 'timestamptz', 'text', 'text', 'text', 'text', 'text', 'float8']
    const arrays = COLUMNS.map((c) => batch.map((r) => r[c]))
    await client.query(
      `INSERT INTO ${table} (${cols}) SELECT * FROM unnest(${types.map((t, i) => `$${i + 1}::${t}[]`).join(', ')}) ` +
        `ON CONFLICT (event_id) DO UPDATE SET ${updates}`,
      arrays,
    )
  },
}

interface Result {
  readonly name: string
  readonly rows: number
  readonly ms: number
  readonly rowsPerSecond: number
}

const best = new Map<string, Result>()
function report(name: string, ms: number) {
  const result = { name, rows: N, ms: Math.round(ms), rowsPerSecond: Math.round((N * 1000) / ms) }
  const previous = best.get(name)
  if (!previous || previous.ms > result.ms) best.set(name, result)
  console.error(`  ${name}: ${result.ms} ms`)
}

const db = await startPostgres()
const pool = new pg.Pool({ connectionString: db.url, max: 2 })
try {
  const t = performance.now()
  const rows = makeRows(N)
  console.log(`${N} rows generated in ${Math.round(performance.now() - t)} ms; batches of ${BATCH}`)
  const sourceRows = rows.map((value, i) => ({ value, partition: `p${i % 4}` }))
  let tableNo = 0

  const rawRun = async (
    name: string,
    ddl: string,
    write: (c: pg.PoolClient, t: string, b: Click[]) => Promise<void>,
  ) => {
    const table = `raw_${++tableNo}`
    await pool.query(`CREATE TABLE ${table} ${ddl}`)
    const client = await pool.connect()
    try {
      const start = performance.now()
      for (const batch of batches(rows)) {
        await client.query('BEGIN')
        await write(client, table, batch)
        await client.query('COMMIT')
      }
      report(name, performance.now() - start)
    } finally {
      client.release()
    }
    const [count] = (await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows
    if (Number(count?.n) !== N) throw new Error(`${name}: ${count?.n} rows, expected ${N}`)
    await pool.query(`DROP TABLE ${table}`)
  }

  /** The sink alone: its writer driven with the batches, as run() does. */
  const sinkRun = async (name: string, ddl: string, mode: 'append' | 'upsert') => {
    const table = `sink_${++tableNo}`
    await pool.query(`CREATE TABLE ${table} ${ddl}`)
    const writer: SinkWriter<Click> = postgres<Click>({
      url: db.url,
      table,
      mode,
      ...(mode === 'upsert' ? { key: ['event_id'] as const } : {}),
    }).create()
    const source: SourceReader = {
      description: 'bench',
      bounded: true,
      open: async () => {},
      poll: async () => [],
      endPositions: async () => ({}),
      close: async () => {},
    }
    await writer.open({ pipelineId: table, source })
    const start = performance.now()
    let batchId = 0
    for (const batch of batches(rows)) {
      const b = { batchId: batchId++, rows: batch, deadLetters: [] }
      await writer.write(b)
      await writer.commit(b, { next: { bench: batchId * BATCH }, records: [] })
    }
    report(name, performance.now() - start)
    await writer.close()
    const [count] = (await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows
    if (Number(count?.n) !== N) throw new Error(`${name}: ${count?.n} rows, expected ${N}`)
    await pool.query(`DROP TABLE ${table}`)
  }

  /** The whole pipeline: memorySource → postgres(), run() with availableNow and a checkpoint. */
  const pipelineRun = async (name: string, ddl: string, mode: 'append' | 'upsert') => {
    const table = `pipe_${++tableNo}`
    await pool.query(`CREATE TABLE ${table} ${ddl}`)
    const { mkdtemp, rm } = await import('node:fs/promises')
    const checkpoint = await mkdtemp('/tmp/sluice-bench-pg-')
    const p = pipeline(table)
      .from(memorySource<Click>('clicks', sourceRows))
      .to(
        postgres<Click>({
          url: db.url,
          table,
          mode,
          ...(mode === 'upsert' ? { key: ['event_id'] as const } : {}),
        }),
      )
    const start = performance.now()
    await run(p, { checkpoint, trigger: { kind: 'availableNow' }, maxBatchRecords: BATCH })
    report(name, performance.now() - start)
    await rm(checkpoint, { recursive: true, force: true })
    const [count] = (await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows
    if (Number(count?.n) !== N) throw new Error(`${name}: ${count?.n} rows, expected ${N}`)
    await pool.query(`DROP TABLE ${table}`)
  }

  for (let r = 0; r < REPEAT; r++) {
    await rawRun('raw pg-copy-streams COPY (append)', DDL, raw.appendCopy)
    await sinkRun('sluice postgres() sink, append (writer alone)', DDL, 'append')
    await pipelineRun('sluice pipeline memorySource → postgres(), append', DDL, 'append')
    await rawRun('raw COPY → temp table → INSERT ON CONFLICT (upsert)', DDL_PK, raw.upsertStage)
    await rawRun('raw multi-row INSERT VALUES ON CONFLICT, params (upsert)', DDL_PK, raw.upsertValues)
    await rawRun('raw INSERT SELECT unnest($arrays) ON CONFLICT (upsert)', DDL_PK, raw.upsertUnnest)
    await sinkRun('sluice postgres() sink, upsert (writer alone)', DDL_PK, 'upsert')
    await pipelineRun('sluice pipeline memorySource → postgres(), upsert', DDL_PK, 'upsert')
    await pool.query('CHECKPOINT')
  }
  const results = [...best.values()]
  for (const r of results)
    console.log(
      `${r.name.padEnd(58)} ${String(r.ms).padStart(7)} ms ${String(r.rowsPerSecond).padStart(9)} rows/s`,
    )

  if (args.out)
    writeFileSync(
      args.out,
      `${JSON.stringify({ rows: N, batch: BATCH, date: new Date().toISOString(), results }, null, 2)}\n`,
    )
} finally {
  await pool.end()
  await db.stop()
}
