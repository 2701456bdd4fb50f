/**
 * DuckDB sink throughput: 1M clickstream rows (the etl projection, 10 flat columns) into a DuckDB file, in
 * transactions of 50 000 rows, through the Sluice sink (append; upsert by event id: all inserts; upsert by
 * user: mostly updates) beside the bare @duckdb/node-api Appender writing the same rows outside Sluice, a
 * prepared multi-row INSERT … ON CONFLICT (the alternative upsert path), and a whole pipeline (run() with
 * memorySource → duckdb).
 *
 *   node bench/sinks/duckdb.ts [--rows 1000000] [--batch 50000] [--prepared-rows 100000] [--dir /tmp/x]
 *                              [--only raw,append,upsert-id,upsert-user,prepared-id,prepared-user,pipeline]
 *                              [--repeat 3]
 */
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { DuckDBInstance } from '@duckdb/node-api'
import { ClickstreamSimulator } from '../../src/clickstream/simulator.ts'
import { duckdb } from '../../src/connectors/duckdb/index.ts'
import { memorySource } from '../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { run } from '../../src/runtime/run.ts'
import type { SinkSpec } from '../../src/runtime/sink.ts'
import type { Positions, SourceReader } from '../../src/runtime/source.ts'

interface Row {
  readonly event_id: string
  readonly event_type: string
  readonly event_time: string
  readonly user_id: string
  readonly session_id: string
  readonly platform: string
  readonly country: string
  readonly path: string
  readonly product_id: string | null
  readonly price: number | null
}

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    batch: { type: 'string', default: '50000' },
    'prepared-rows': { type: 'string', default: '100000' },
    dir: { type: 'string' },
    /** Comma-separated: raw, append, upsert-id, upsert-user, prepared-id, prepared-user, pipeline. */
    only: { type: 'string' },
    /** Run the selection this many times round-robin and report each measurement's median (noisy machines). */
    repeat: { type: 'string', default: '1' },
  },
})
const only = args.only ? new Set(args.only.split(',')) : undefined
const wanted = (name: string) => !only || only.has(name)
const N = Number(args.rows)
const BATCH = Number(args.batch)
const PREPARED_ROWS = Math.min(N, Number(args['prepared-rows']))

const DDL = `(event_id VARCHAR, event_type VARCHAR, event_time TIMESTAMP WITH TIME ZONE, user_id VARCHAR,
  session_id VARCHAR, platform VARCHAR, country VARCHAR, path VARCHAR, product_id VARCHAR, price DOUBLE)`
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

function generate(n: number): Row[] {
  const sim = new ClickstreamSimulator({
    seed: 1,
    users: 100_000,
    startTime: Date.parse('2026-03-02T09:00:00Z'),
  })
  const rows: Row[] = new Array(n)
  for (let i = 0; i < n; i++) {
    const e = sim.next()
    rows[i] = {
      event_id: e.event_id,
      event_type: e.event_type,
      event_time: e.event_time,
      user_id: e.user_id,
      session_id: e.session_id,
      platform: e.platform,
      country: e.country,
      path: e.page.path,
      product_id: e.product?.id ?? null,
      price: e.product?.price ?? null,
    }
  }
  return rows
}

interface Result {
  readonly name: string
  readonly rows: number
  readonly seconds: number
  readonly tableRows: number
  readonly fileMB: number
}

async function measure(
  name: string,
  file: string,
  rows: number,
  table: string,
  work: () => Promise<void>,
): Promise<Result> {
  await rm(file, { force: true })
  await rm(`${file}.wal`, { force: true })
  globalThis.gc?.()
  const started = performance.now()
  await work()
  const seconds = (performance.now() - started) / 1000
  const instance = await DuckDBInstance.create(file)
  const connection = await instance.connect()
  const count = await connection.runAndReadAll(`SELECT count(*) AS n FROM ${table}`)
  const tableRows = Number(count.getRowObjectsJS()[0]?.n)
  connection.closeSync()
  instance.closeSync()
  const fileMB = (await stat(file)).size / 1e6
  const result = { name, rows, seconds, tableRows, fileMB }
  console.error(
    `${name.padEnd(44)} ${fmt(rows / seconds).padStart(9)} rows/s  ${seconds.toFixed(2).padStart(6)} s  ` +
      `${tableRows} rows in the table, ${fileMB.toFixed(1)} MB`,
  )
  return result
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US')
}

/** The bare Appender, the way its documentation shows it: typed appends row by row, a transaction per batch. */
async function rawAppender(file: string, rows: readonly Row[]): Promise<void> {
  const instance = await DuckDBInstance.create(file)
  const connection = await instance.connect()
  await connection.run(`CREATE TABLE events ${DDL}`)
  for (let start = 0; start < rows.length; start += BATCH) {
    await connection.run('BEGIN TRANSACTION')
    const appender = await connection.createAppender('events')
    const end = Math.min(rows.length, start + BATCH)
    for (let i = start; i < end; i++) {
      const r = rows[i]!
      appender.appendVarchar(r.event_id)
      appender.appendVarchar(r.event_type)
      appender.appendVarchar(r.event_time) // DuckDB parses the ISO text: faster than appendTimestampTZ here
      appender.appendVarchar(r.user_id)
      appender.appendVarchar(r.session_id)
      appender.appendVarchar(r.platform)
      appender.appendVarchar(r.country)
      appender.appendVarchar(r.path)
      if (r.product_id === null) appender.appendNull()
      else appender.appendVarchar(r.product_id)
      if (r.price === null) appender.appendNull()
      else appender.appendDouble(r.price)
      appender.endRow()
    }
    appender.closeSync()
    await connection.run('COMMIT')
  }
  connection.closeSync()
  instance.closeSync()
}

/** The alternative upsert: a prepared INSERT of 100 rows … ON CONFLICT DO UPDATE, bound value by value. */
async function preparedUpsert(
  file: string,
  rows: readonly Row[],
  key: 'event_id' | 'user_id',
): Promise<void> {
  const instance = await DuckDBInstance.create(file)
  const connection = await instance.connect()
  await connection.run(`CREATE TABLE events ${DDL.replace(/\)$/, `, PRIMARY KEY (${key}))`)}`)
  const per = 100
  const placeholders = Array.from({ length: per }, () => `(${COLUMNS.map(() => '?').join(', ')})`).join(', ')
  const updates = COLUMNS.filter((c) => c !== key)
    .map((c) => `${c} = excluded.${c}`)
    .join(', ')
  const sql = (values: string) =>
    `INSERT INTO events VALUES ${values} ON CONFLICT (${key}) DO UPDATE SET ${updates}`
  const statement = await connection.prepare(sql(placeholders))
  for (let start = 0; start < rows.length; start += BATCH) {
    await connection.run('BEGIN TRANSACTION')
    const end = Math.min(rows.length, start + BATCH)
    // The same key twice in one INSERT … ON CONFLICT is refused: keep the last of each key, as the sink does.
    const last = new Map<string, Row>()
    for (let i = start; i < end; i++) last.set(rows[i]![key], rows[i]!)
    const batch = [...last.values()]
    for (let s = 0; s < batch.length; s += per) {
      const slice = batch.slice(s, s + per)
      const target =
        slice.length === per
          ? statement
          : await connection.prepare(
              sql(slice.map(() => `(${COLUMNS.map(() => '?').join(', ')})`).join(', ')),
            )
      let p = 1
      for (const r of slice) {
        for (const c of COLUMNS) {
          const v = r[c]
          if (v === null) target.bindNull(p++)
          else if (typeof v === 'number') target.bindDouble(p++, v)
          else target.bindVarchar(p++, v)
        }
      }
      await target.run()
    }
    await connection.run('COMMIT')
  }
  connection.closeSync()
  instance.closeSync()
}

const fakeSource: SourceReader = {
  description: 'bench',
  bounded: true,
  async open() {},
  async poll() {
    return []
  },
  async endPositions() {
    return {}
  },
  async close() {},
}

/** The Sluice sink's writer on its own: open, then write + commit per batch, as run() calls it. */
async function throughSink(spec: SinkSpec<Row>, rows: readonly Row[]): Promise<void> {
  const writer = spec.create()
  await writer.open({ pipelineId: 'bench', source: fakeSource })
  for (let start = 0, batchId = 0; start < rows.length; start += BATCH, batchId++) {
    const batch = { batchId, rows: rows.slice(start, start + BATCH), deadLetters: [] }
    await writer.write(batch)
    const next: Positions = { bench: Math.min(rows.length, start + BATCH) }
    await writer.commit(batch, { next, records: [] })
  }
  await writer.close()
}

const dir = args.dir ?? (await mkdtemp(join(tmpdir(), 'sluice-bench-duckdb-')))
console.error(`generating ${fmt(N)} clickstream rows …`)
const rows = generate(N)
console.error(`DuckDB file in ${dir}; ${fmt(N)} rows, transactions of ${fmt(BATCH)}\n`)
const file = (name: string) => join(dir, `${name}.duckdb`)
const all: Result[] = []
const add = async (r: Promise<Result>) => all.push(await r)
for (let round = 1; round <= Number(args.repeat); round++) {
  if (Number(args.repeat) > 1) console.error(`round ${round}`)

  const pair = [
    async () => {
      if (wanted('raw'))
        await add(
          measure('raw Appender (outside Sluice)', file('raw'), N, 'events', () =>
            rawAppender(file('raw'), rows),
          ),
        )
    },
    async () => {
      if (wanted('append'))
        await add(
          measure('sink append', file('append'), N, 'events', () =>
            throughSink(duckdb<Row>({ path: file('append'), table: 'events' }), rows),
          ),
        )
    },
  ]
  // Whatever runs second in a process pays for the first one's heap: alternate the order of the pair.
  for (const measurePair of round % 2 === 1 ? pair : pair.reverse()) await measurePair()
  if (wanted('upsert-id'))
    await add(
      measure('sink upsert by event_id (inserts)', file('upsert-id'), N, 'events', () =>
        throughSink(
          duckdb<Row>({ path: file('upsert-id'), table: 'events', mode: 'upsert', key: ['event_id'] }),
          rows,
        ),
      ),
    )
  if (wanted('upsert-user'))
    await add(
      measure('sink upsert by user_id (mostly updates)', file('upsert-user'), N, 'events', () =>
        throughSink(
          duckdb<Row>({ path: file('upsert-user'), table: 'events', mode: 'upsert', key: ['user_id'] }),
          rows,
        ),
      ),
    )
  const subset = rows.slice(0, PREPARED_ROWS)
  if (wanted('prepared-id'))
    await add(
      measure(`prepared INSERT … ON CONFLICT by event_id`, file('prepared-id'), PREPARED_ROWS, 'events', () =>
        preparedUpsert(file('prepared-id'), subset, 'event_id'),
      ),
    )
  if (wanted('prepared-user'))
    await add(
      measure(
        `prepared INSERT … ON CONFLICT by user_id`,
        file('prepared-user'),
        PREPARED_ROWS,
        'events',
        () => preparedUpsert(file('prepared-user'), subset, 'user_id'),
      ),
    )
  if (wanted('pipeline'))
    await add(
      measure('pipeline: run(memorySource → duckdb append)', file('pipeline'), N, 'events', async () => {
        const p = pipeline('bench-duckdb')
          .from(memorySource<Row>('rows', rows))
          .to(duckdb<Row>({ path: file('pipeline'), table: 'events' }))
        await rm(join(dir, 'checkpoint'), { recursive: true, force: true })
        const phases = { poll: 0, process: 0, checkpoint: 0, sink: 0 }
        await run(p, {
          checkpoint: join(dir, 'checkpoint'),
          trigger: { kind: 'availableNow' },
          maxBatchRecords: BATCH,
          onProgress: (progress) => {
            for (const k of ['poll', 'process', 'checkpoint', 'sink'] as const)
              phases[k] += progress.durationMs[k]
          },
        })
        console.error(
          `  pipeline phases (s): ${Object.entries(phases)
            .map(([k, ms]) => `${k} ${(ms / 1000).toFixed(2)}`)
            .join(', ')}`,
        )
      }),
    )
}

/** Per measurement, the run with the median time. */
const results: Result[] = []
for (const name of new Set(all.map((r) => r.name))) {
  const runs = all.filter((r) => r.name === name).sort((a, b) => a.seconds - b.seconds)
  results.push(runs[(runs.length - 1) >> 1]!)
}
const raw = results.find((r) => r.name.startsWith('raw')) ?? results[0]!
console.log(
  JSON.stringify(
    {
      rows: N,
      batch: BATCH,
      repeat: Number(args.repeat),
      loadAverage: loadavg(),
      results: results.map((r) => ({
        name: r.name,
        rows: r.rows,
        seconds: Number(r.seconds.toFixed(3)),
        rowsPerSecond: Math.round(r.rows / r.seconds),
        vsRawAppender: Number((r.rows / r.seconds / (raw.rows / raw.seconds)).toFixed(2)),
        tableRows: r.tableRows,
        fileMB: Number(r.fileMB.toFixed(1)),
      })),
    },
    null,
    2,
  ),
)
if (!args.dir) await rm(dir, { recursive: true, force: true })
