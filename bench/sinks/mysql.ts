/**
 * MySQL/MariaDB sink throughput: clickstream rows (the 10-field projection of the etl workload) written
 * through `mysql()` beside hand-written mysql2 multi-row INSERTs of the same rows, in the same run, into
 * identical tables.
 *
 *   node bench/sinks/mysql.ts [--rows 1000000] [--batch 50000] [--repeat 3] [--only NAME]...
 *
 * Uses the server MYSQL_URL points at (a fresh database, dropped afterwards), or starts a private MariaDB
 * (test/helpers/mariadb.ts: 512 MB buffer pool, innodb_flush_log_at_trx_commit=2, no binary log).
 *
 * Variants, each on an empty table, interleaved, `--repeat` times (medians reported: the machine is shared):
 * - `raw-query`      mysql2 `query('INSERT … VALUES ?', [rows])`: values escaped into the SQL text by the
 *                    client, 2048 rows a statement, one transaction per batch. The usual hand-written loader.
 * - `raw-execute`    mysql2 `execute()` of a prepared 2048-row INSERT: values bound, as the sink binds them.
 * - `sink`           the sink's writer driven directly: write(batch) + commit(batch) per batch, offsets row
 *                    included; no engine.
 * - `pipeline`       the whole engine: memorySource → map → mysql(), run() with availableNow, checkpoints on
 *                    disk.
 * - `raw-upsert` and `sink-upsert`: the same rows upserted on user_id (100 000 users: mostly updates).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import mysql2, { type Connection } from 'mysql2/promise'
import { ClickstreamGenerator } from '../../src/clickstream/generator.ts'
import { mysql } from '../../src/connectors/mysql/index.ts'
import { memorySource } from '../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { run } from '../../src/runtime/run.ts'
import type { OutputBatch } from '../../src/runtime/sink.ts'
import type { SourceReader } from '../../src/runtime/source.ts'
import { startMariaDb } from '../../test/helpers/mariadb.ts'
import { type ProjectedClick, project } from '../lib/pipelines.ts'
import type { BenchClickEvent } from '../lib/schema.ts'

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    batch: { type: 'string', default: '50000' },
    only: { type: 'string', multiple: true },
    repeat: { type: 'string', default: '3' },
  },
})
const N = Number(args.rows)
const BATCH = Number(args.batch)
const REPEAT = Number(args.repeat)
const STATEMENT_ROWS = 2048

const COLUMNS = `
  event_id VARCHAR(36) NOT NULL,
  event_type VARCHAR(32) NOT NULL,
  event_time DATETIME(3) NOT NULL,
  user_id VARCHAR(16) NOT NULL,
  session_id VARCHAR(24) NOT NULL,
  platform VARCHAR(8) NOT NULL,
  country CHAR(2) NOT NULL,
  path VARCHAR(255) NOT NULL,
  product_id VARCHAR(16) NULL,
  price DOUBLE NULL`
const FIELDS = [
  'event_id',
  'event_type',
  'event_time',
  'user_id',
  'session_id',
  'platform',
  'country',
  'path',
  'product_id',
  'price',
] as const

function log(line: string) {
  process.stderr.write(`${line}\n`)
}

function generateRows(n: number): ProjectedClick[] {
  const generator = new ClickstreamGenerator({
    seed: 1,
    users: 100_000,
    startTime: Date.parse('2026-01-01T00:00:00Z'),
  })
  const rows: ProjectedClick[] = new Array(n)
  for (let i = 0; i < n; i++)
    rows[i] = project(JSON.parse(generator.next().value.toString()) as BenchClickEvent)
  return rows
}

/** What a hand-written loader does per row: the ISO time as DATETIME text, fields in column order. */
function tuple(r: ProjectedClick): (string | number | null)[] {
  return [
    r.event_id,
    r.event_type,
    r.event_time.slice(0, 10) + ' ' + r.event_time.slice(11, 23),
    r.user_id,
    r.session_id,
    r.platform,
    r.country,
    r.path,
    r.product_id,
    r.price,
  ]
}

interface Result {
  readonly variant: string
  readonly rows: number
  readonly seconds: number
  readonly rowsPerSecond: number
  /** CPU time of this Node process (the client side; the server's is not counted). */
  readonly cpuSeconds: number
}

async function measure(variant: string, fn: () => Promise<void>): Promise<Result> {
  const cpu = process.cpuUsage()
  const start = performance.now()
  await fn()
  const seconds = (performance.now() - start) / 1000
  const used = process.cpuUsage(cpu)
  const result = {
    variant,
    rows: N,
    seconds: Math.round(seconds * 100) / 100,
    rowsPerSecond: Math.round(N / seconds),
    cpuSeconds: Math.round((used.user + used.system) / 10_000) / 100,
  }
  log(
    `${variant.padEnd(12)} ${String(result.rowsPerSecond).padStart(8)} rows/s  ${result.seconds} s  node cpu ${result.cpuSeconds} s`,
  )
  return result
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid]! : Math.round((sorted[mid - 1]! + sorted[mid]!) / 2)
}

interface Variant {
  readonly name: string
  /** The table's primary key: event_id (append) or user_id (upsert). */
  readonly key: 'event_id' | 'user_id'
  run(table: string, repetition: number): Promise<void>
}

async function main() {
  const server = await startMariaDb({ bufferPoolMb: 512 })
  const dirs: string[] = []
  try {
    log(`generating ${N} clickstream rows…`)
    const rows = generateRows(N)
    const users = new Set(rows.map((r) => r.user_id)).size
    const conn: Connection = await mysql2.createConnection({ uri: server.url, charset: 'utf8mb4' })
    await conn.query("SET SESSION sql_mode = 'STRICT_ALL_TABLES', time_zone = '+00:00'")
    const [version] = await conn.query<mysql2.RowDataPacket[]>('SELECT VERSION() AS v')
    log(
      `server ${version[0]?.['v']}, ${N} rows (${users} users), batches of ${BATCH}, statements of ${STATEMENT_ROWS} rows, ${REPEAT} repetition(s)`,
    )
    const upsertSet = FIELDS.filter((f) => f !== 'user_id')
      .map((f) => `${f} = VALUES(${f})`)
      .join(', ')
    const placeholders = (n: number) => new Array(n).fill(`(${FIELDS.map(() => '?').join(', ')})`).join(', ')

    /** Batches of BATCH rows, one transaction each, statements of STATEMENT_ROWS rows. */
    const rawLoad = async (statement: (chunk: ProjectedClick[]) => Promise<unknown>) => {
      for (let b = 0; b < N; b += BATCH) {
        await conn.query('START TRANSACTION')
        for (let i = b; i < Math.min(b + BATCH, N); i += STATEMENT_ROWS)
          await statement(rows.slice(i, Math.min(i + STATEMENT_ROWS, b + BATCH, N)))
        await conn.query('COMMIT')
      }
    }
    /** The sink's writer without the engine: write + commit per batch, as run() calls them. */
    const drive = async (pipelineId: string, table: string, mode: 'append' | 'upsert') => {
      const writer = mysql<ProjectedClick>({
        url: server.url,
        table,
        mode,
        ...(mode === 'upsert' ? { key: ['user_id'] as const } : {}),
      }).create()
      const source = { description: 'bench' } as SourceReader
      await writer.open({ pipelineId, source })
      try {
        for (let b = 0, id = 0; b < N; b += BATCH, id++) {
          const batch: OutputBatch<ProjectedClick> = {
            batchId: id,
            rows: rows.slice(b, Math.min(b + BATCH, N)),
            deadLetters: [],
          }
          await writer.write(batch)
          await writer.commit(batch, { next: { bench: Math.min(b + BATCH, N) }, records: [] })
        }
      } finally {
        await writer.close()
      }
    }

    const all: Variant[] = [
      {
        name: 'raw-query',
        key: 'event_id',
        run: (table) =>
          rawLoad((chunk) =>
            conn.query(`INSERT INTO ${table} (${FIELDS.join(', ')}) VALUES ?`, [chunk.map(tuple)]),
          ),
      },
      {
        name: 'raw-execute',
        key: 'event_id',
        run: (table) =>
          rawLoad((chunk) =>
            conn.execute(
              `INSERT INTO ${table} (${FIELDS.join(', ')}) VALUES ${placeholders(chunk.length)}`,
              chunk.flatMap(tuple),
            ),
          ),
      },
      { name: 'sink', key: 'event_id', run: (table, r) => drive(`bench-sink-${r}`, table, 'append') },
      {
        name: 'pipeline',
        key: 'event_id',
        run: async (table, r) => {
          const checkpoint = await mkdtemp(join(tmpdir(), 'sluice-bench-mysql-'))
          dirs.push(checkpoint)
          await run(
            pipeline(`bench-pipeline-${r}`)
              .from(memorySource<ProjectedClick>('clicks', rows))
              .map((row) => row)
              .to(mysql<ProjectedClick>({ url: server.url, table })),
            { checkpoint, trigger: { kind: 'availableNow' }, maxBatchRecords: BATCH },
          )
        },
      },
      {
        name: 'raw-upsert',
        key: 'user_id',
        run: (table) =>
          rawLoad((chunk) =>
            conn.query(
              `INSERT INTO ${table} (${FIELDS.join(', ')}) VALUES ? ON DUPLICATE KEY UPDATE ${upsertSet}`,
              [chunk.map(tuple)],
            ),
          ),
      },
      { name: 'sink-upsert', key: 'user_id', run: (table, r) => drive(`bench-upsert-${r}`, table, 'upsert') },
    ]
    const variants = all.filter((v) => !args.only || args.only.includes(v.name))

    const results: Result[] = []
    for (let r = 0; r < REPEAT; r++) {
      for (const variant of variants) {
        const table = `bench_${variant.name.replaceAll('-', '_')}`
        await conn.query(`DROP TABLE IF EXISTS ${table}`)
        await conn.query(
          `CREATE TABLE ${table} (${COLUMNS}, PRIMARY KEY (${variant.key})) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
        )
        results.push(await measure(variant.name, () => variant.run(table, r)))
        const [count] = await conn.query<mysql2.RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${table}`)
        const expected = variant.key === 'user_id' ? users : N
        if (Number(count[0]?.['n']) !== expected)
          throw new Error(`${variant.name}: ${count[0]?.['n']} rows in ${table}, expected ${expected}`)
        await conn.query(`DROP TABLE ${table}`)
      }
    }
    await conn.end()
    const summary = variants.map((v) => {
      const mine = results.filter((r) => r.variant === v.name)
      return {
        variant: v.name,
        medianRowsPerSecond: median(mine.map((r) => r.rowsPerSecond)),
        minRowsPerSecond: Math.min(...mine.map((r) => r.rowsPerSecond)),
        maxRowsPerSecond: Math.max(...mine.map((r) => r.rowsPerSecond)),
        medianCpuSeconds: median(mine.map((r) => Math.round(r.cpuSeconds * 100))) / 100,
      }
    })
    log('\nmedian rows/s (min–max), node cpu s:')
    for (const v of summary)
      log(
        `${v.variant.padEnd(12)} ${String(v.medianRowsPerSecond).padStart(8)}  (${v.minRowsPerSecond}–${v.maxRowsPerSecond})  ${v.medianCpuSeconds}`,
      )
    process.stdout.write(
      `${JSON.stringify({ rows: N, users, batch: BATCH, repeat: REPEAT, server: version[0]?.['v'], summary, results }, null, 2)}\n`,
    )
  } finally {
    await server.stop()
    for (const d of dirs) await rm(d, { recursive: true, force: true })
  }
}

await main()
