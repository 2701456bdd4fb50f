/**
 * Per-sink overhead: rows/s into each sink for the same in-memory rows (the etl projection of the
 * clickstream, 10 flat columns), the Sluice sink's writer driven batch by batch as run() drives it, beside
 * the raw library writing the same rows in the same batches outside Sluice:
 *
 *   postgres append   pg-copy-streams COPY                          postgres({ mode: 'append' })
 *   postgres upsert   COPY → temp table → INSERT … ON CONFLICT      postgres({ mode: 'upsert', key: ['event_id'] })
 *   duckdb            @duckdb/node-api appender, one txn per batch  duckdb({ mode: 'append' })
 *   parquet lake      DuckDB appender + COPY TO parquet per batch   lake()
 *   iceberg lake      the same Parquet files                         lake({ format: 'iceberg', catalog })
 *   redis hash        node-redis MULTI/EXEC of HSET per row, a batch  redis({ mode: 'hash' })
 *   mongodb insert    driver bulkWrite of insertOne, 500 per command  mongodb({ mode: 'insert' }), on FerretDB
 *
 * One pass each (no repeats, to keep the default suite short; bench/sinks/*.ts repeat and compare more
 * variants). The rows are `config.inputRecords` (the --events of the run, default 1M in --suite sinks).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as duck from '@duckdb/node-api'
import { DuckDBDataChunk, DuckDBInstance, type DuckDBValue } from '@duckdb/node-api'
import { MongoClient } from 'mongodb'
import pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import { createClient } from 'redis'
import { ClickstreamSimulator } from '../../src/clickstream/simulator.ts'
import { duckdb } from '../../src/connectors/duckdb/index.ts'
import { lake } from '../../src/connectors/lake/index.ts'
import { mongodb } from '../../src/connectors/mongodb/index.ts'
import { escapeCopyText } from '../../src/connectors/postgres/columns.ts'
import { postgres } from '../../src/connectors/postgres/index.ts'
import { redis } from '../../src/connectors/redis/index.ts'
import { memorySource } from '../../src/connectors/testing/memory-source.ts'
import type { SinkSpec } from '../../src/runtime/sink.ts'
import { startFerretDb } from '../../test/helpers/ferretdb.ts'
import { startPostgres } from '../../test/helpers/postgres.ts'
import { startRedis } from '../../test/helpers/redis.ts'
import { maxRssMB, mb, runWorkload, Stopwatch } from '../lib/child.ts'
import { CLICKSTREAM } from '../lib/config.ts'
import { type ProjectedClick, project } from '../lib/pipelines.ts'

const COLUMNS = [
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
const PG_DDL = `(event_id text PRIMARY KEY, event_type text, event_time timestamptz, user_id text, session_id text,
  platform text, country text, path text, product_id text, price double precision)`
const DUCK_DDL = `(event_id VARCHAR, event_type VARCHAR, event_time TIMESTAMP WITH TIME ZONE, user_id VARCHAR,
  session_id VARCHAR, platform VARCHAR, country VARCHAR, path VARCHAR, product_id VARCHAR, price DOUBLE)`

function generate(n: number): ProjectedClick[] {
  const sim = new ClickstreamSimulator({
    seed: CLICKSTREAM.seed,
    users: CLICKSTREAM.users,
    startTime: CLICKSTREAM.startTime,
  })
  return Array.from({ length: n }, () => project(sim.next()))
}

function batches<T>(rows: readonly T[], size: number): T[][] {
  const out: T[][] = []
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size))
  return out
}

async function copyRows(client: pg.PoolClient, sql: string, rows: readonly ProjectedClick[]): Promise<void> {
  const stream = client.query(copyFrom(sql))
  await new Promise<void>((resolve, reject) => {
    stream.on('error', reject)
    stream.on('finish', resolve)
    let i = 0
    const pump = () => {
      while (i < rows.length) {
        let chunk = ''
        while (i < rows.length && chunk.length < 1 << 20) {
          const r = rows[i++]!
          let line = ''
          for (let c = 0; c < COLUMNS.length; c++) {
            const v = r[COLUMNS[c]!]
            line += (c > 0 ? '\t' : '') + (v === null ? '\\N' : escapeCopyText(String(v)))
          }
          chunk += `${line}\n`
        }
        if (!stream.write(chunk)) return void stream.once('drain', pump)
      }
      stream.end()
    }
    pump()
  })
}

/** The sink's writer alone, driven as run() drives it: write then commit per batch. */
async function driveSink(
  spec: SinkSpec<ProjectedClick>,
  id: string,
  parts: ProjectedClick[][],
): Promise<void> {
  const source = memorySource('none', []).create({ pipelineId: id, now: Date.now })
  const writer = spec.create()
  await writer.open({ pipelineId: id, source })
  let done = 0
  for (let b = 0; b < parts.length; b++) {
    const batch = { batchId: b, rows: parts[b]!, deadLetters: [] }
    done += parts[b]!.length
    await writer.write(batch)
    await writer.commit(batch, { next: { rows: done }, records: [] })
  }
  await writer.close()
}

const duckTypes = [
  duck.VARCHAR,
  duck.VARCHAR,
  duck.TIMESTAMPTZ,
  duck.VARCHAR,
  duck.VARCHAR,
  duck.VARCHAR,
  duck.VARCHAR,
  duck.VARCHAR,
  duck.VARCHAR,
  duck.DOUBLE,
]

function duckChunk(rows: readonly ProjectedClick[], from: number, to: number): DuckDBDataChunk {
  const chunk = DuckDBDataChunk.create(duckTypes, to - from)
  COLUMNS.forEach((c, j) => {
    const values: DuckDBValue[] = new Array(to - from)
    for (let i = from; i < to; i++) {
      const v = rows[i]![c]
      values[i - from] =
        c === 'event_time' ? new duck.DuckDBTimestampTZValue(BigInt(Date.parse(v as string)) * 1000n) : v
    }
    chunk.setColumnValues(j, values)
  })
  return chunk
}

/** Raw DuckDB: the appender, one transaction per batch; with `parquet`, each batch copied to a Parquet file. */
async function rawDuckdb(parts: ProjectedClick[][], file: string, parquetDir?: string): Promise<void> {
  if (parquetDir) await mkdir(parquetDir, { recursive: true })
  const instance = await DuckDBInstance.create(parquetDir ? ':memory:' : file)
  const connection = await instance.connect()
  await connection.run(`CREATE TABLE t ${DUCK_DDL}`)
  for (const [b, part] of parts.entries()) {
    await connection.run('BEGIN TRANSACTION')
    const appender = await connection.createAppender('t')
    for (let s = 0; s < part.length; s += 2048)
      appender.appendDataChunk(duckChunk(part, s, Math.min(part.length, s + 2048)))
    appender.closeSync()
    await connection.run('COMMIT')
    if (parquetDir) {
      await connection.run(
        `COPY t TO '${join(parquetDir, `part-${b}.parquet`)}' (FORMAT parquet, COMPRESSION snappy)`,
      )
      await connection.run('DELETE FROM t')
    }
  }
  connection.closeSync()
  instance.closeSync()
}

/** Raw node-redis: one MULTI/EXEC per batch, HSET of each row's non-null fields (as the sink writes them). */
async function rawRedis(url: string, parts: ProjectedClick[][]): Promise<void> {
  const client = createClient({ url })
  await client.connect()
  try {
    for (const part of parts) {
      const multi = client.multi()
      for (const row of part) {
        const fields: string[] = []
        for (const [name, value] of Object.entries(row)) if (value !== null) fields.push(name, String(value))
        multi.addCommand(['HSET', `raw:${row.event_id}`, ...fields])
      }
      await multi.exec()
    }
  } finally {
    await client.close()
  }
}

/**
 * The raw driver: each batch as unordered bulk writes of 500 inserts, `_id`s chosen by the client, as the
 * sink writes a batch on a server without transactions (FerretDB), without its positions and checks.
 */
async function rawMongo(url: string, database: string, parts: ProjectedClick[][]): Promise<void> {
  const client = new MongoClient(url, { retryWrites: false })
  await client.connect()
  try {
    const collection = client.db(database).collection<{ _id: string }>('raw')
    let id = 0
    for (const part of parts)
      for (let i = 0; i < part.length; i += 500)
        await collection.bulkWrite(
          part.slice(i, i + 500).map((row) => ({ insertOne: { document: { _id: `raw:${id++}`, ...row } } })),
          { ordered: false },
        )
  } finally {
    await client.close()
  }
}

interface SinkRate {
  readonly sink: string
  readonly rawRowsPerSecond: number
  readonly sinkRowsPerSecond: number
}

runWorkload(async (config) => {
  const n = config.inputRecords
  const parts = batches(generate(n), config.maxBatchRecords)
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-sinks-'))
  const db = await startPostgres()
  const pool = new pg.Pool({ connectionString: db.url, max: 2 })
  const watch = new Stopwatch()
  const rates: SinkRate[] = []
  const timed = async (work: () => Promise<void>) => {
    const start = performance.now()
    await work()
    return Math.round((n * 1000) / (performance.now() - start))
  }
  const pgRaw = async (
    table: string,
    statement: (client: pg.PoolClient, part: ProjectedClick[]) => Promise<void>,
  ) => {
    await pool.query(`CREATE TABLE ${table} ${PG_DDL}`)
    const client = await pool.connect()
    try {
      for (const part of parts) {
        await client.query('BEGIN')
        await statement(client, part)
        await client.query('COMMIT')
      }
    } finally {
      client.release()
    }
  }
  try {
    const cols = COLUMNS.join(', ')
    rates.push({
      sink: 'postgres append (COPY)',
      rawRowsPerSecond: await timed(() =>
        pgRaw('raw_append', (c, part) => copyRows(c, `COPY raw_append (${cols}) FROM STDIN`, part)),
      ),
      sinkRowsPerSecond: await timed(async () => {
        await pool.query(`CREATE TABLE sink_append ${PG_DDL}`)
        await driveSink(
          postgres<ProjectedClick>({ url: db.url, table: 'sink_append' }),
          'sinks-append',
          parts,
        )
      }),
    })
    const updates = COLUMNS.filter((c) => c !== 'event_id')
      .map((c) => `${c} = EXCLUDED.${c}`)
      .join(', ')
    rates.push({
      sink: 'postgres upsert (COPY + ON CONFLICT)',
      rawRowsPerSecond: await timed(() =>
        pgRaw('raw_upsert', async (c, part) => {
          await c.query(
            `CREATE TEMP TABLE stage ON COMMIT DROP AS SELECT ${cols} FROM raw_upsert WITH NO DATA`,
          )
          await copyRows(c, `COPY stage (${cols}) FROM STDIN`, part)
          await c.query(
            `INSERT INTO raw_upsert (${cols}) SELECT ${cols} FROM stage ON CONFLICT (event_id) DO UPDATE SET ${updates}`,
          )
        }),
      ),
      sinkRowsPerSecond: await timed(async () => {
        await pool.query(`CREATE TABLE sink_upsert ${PG_DDL}`)
        await driveSink(
          postgres<ProjectedClick>({ url: db.url, table: 'sink_upsert', mode: 'upsert', key: ['event_id'] }),
          'sinks-upsert',
          parts,
        )
      }),
    })
    rates.push({
      sink: 'duckdb append',
      rawRowsPerSecond: await timed(() => rawDuckdb(parts, join(dir, 'raw.duckdb'))),
      sinkRowsPerSecond: await timed(() =>
        driveSink(
          duckdb<ProjectedClick>({
            path: join(dir, 'sink.duckdb'),
            table: 't',
            columns: columnsOf(DUCK_DDL),
          }),
          'sinks-duckdb',
          parts,
        ),
      ),
    })
    rates.push({
      sink: 'parquet lake',
      rawRowsPerSecond: await timed(() => rawDuckdb(parts, '', join(dir, 'raw-parquet'))),
      sinkRowsPerSecond: await timed(() =>
        driveSink(lake<ProjectedClick>({ path: join(dir, 'lake') }), 'sinks-lake', parts),
      ),
    })
    rates.push({
      // The raw side writes the same Parquet files; the sink adds field ids, Avro manifests, a manifest
      // list, table metadata and the catalog's compare-and-swap per batch.
      sink: 'iceberg lake (SQLite catalog)',
      rawRowsPerSecond: await timed(() => rawDuckdb(parts, '', join(dir, 'raw-parquet-iceberg'))),
      sinkRowsPerSecond: await timed(() =>
        driveSink(
          lake<ProjectedClick>({
            path: join(dir, 'iceberg'),
            format: 'iceberg',
            catalog: { sqlite: join(dir, 'catalog.db'), table: 'bench.events' },
          }),
          'sinks-iceberg',
          parts,
        ),
      ),
    })
    const redisServer = await startRedis()
    try {
      rates.push({
        sink: 'redis hash (MULTI/EXEC)',
        rawRowsPerSecond: await timed(() => rawRedis(redisServer.url, parts)),
        sinkRowsPerSecond: await timed(() =>
          driveSink(
            redis<ProjectedClick>({ url: redisServer.url, mode: 'hash', key: 'sink:{event_id}' }),
            'sinks-redis',
            parts,
          ),
        ),
      })
    } finally {
      await redisServer.stop()
    }
    const ferret = await startFerretDb()
    try {
      rates.push({
        sink: 'mongodb insert (FerretDB, no transactions)',
        rawRowsPerSecond: await timed(() => rawMongo(ferret.url, ferret.database, parts)),
        sinkRowsPerSecond: await timed(() =>
          driveSink(
            mongodb<ProjectedClick>({ url: ferret.url, database: ferret.database, collection: 'sink' }),
            'sinks-mongodb',
            parts,
          ),
        ),
      })
    } finally {
      await ferret.stop()
    }
  } finally {
    await pool.end()
    await db.stop()
    await rm(dir, { recursive: true, force: true })
  }
  const cpu = watch.cpu()
  const seconds = watch.elapsed() / 1000
  return {
    workload: 'sinks',
    events: n * rates.length * 2,
    bytes: 0,
    outputRows: n * rates.length,
    deadLettered: 0,
    seconds,
    startupSeconds: 0,
    batches: parts.length * rates.length * 2,
    cpuUserSeconds: cpu.user,
    cpuSystemSeconds: cpu.system,
    maxRssMB: maxRssMB(),
    heapUsedMBAtEnd: mb(process.memoryUsage().heapUsed),
    notes: rates.map(
      (r) =>
        `${r.sink}: raw ${r.rawRowsPerSecond.toLocaleString('en')} rows/s, Sluice sink ${r.sinkRowsPerSecond.toLocaleString('en')} rows/s (${Math.round((r.sinkRowsPerSecond / r.rawRowsPerSecond) * 100)} % of raw)`,
    ),
  }
})

/** `columns` for duckdb() from the DDL above, so both tables have the same types. */
function columnsOf(ddl: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const part of ddl.replace(/^\(|\)$/g, '').split(',')) {
    const [name, ...type] = part.trim().split(/\s+/)
    out[name!] = type.join(' ')
  }
  return out
}
