/**
 * Lake sink benchmark: clickstream rows into Parquet through `lake()` in a Sluice pipeline, beside the raw
 * writer libraries writing the same rows outside Sluice in the same run:
 * - DuckDB: rows appended to a temporary table in 2048-row data chunks, then `COPY … TO … (FORMAT parquet)`
 *   (what lake() uses);
 * - hyparquet-writer: the pure-JS writer, with the same columns (INT32/DOUBLE/STRING/JSON text, SNAPPY).
 *
 *   node bench/sinks/lake.ts [--rows 1000000] [--repeat 1] [--json]
 *
 * Rows/s are per writer over the same in-memory rows; the sink figures are end to end (pipeline from an
 * in-memory source, availableNow, 50 000-row batches) and the sink phase alone (from onProgress).
 */
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import * as duck from '@duckdb/node-api'
import { DuckDBDataChunk, DuckDBInstance, type DuckDBType, type DuckDBValue } from '@duckdb/node-api'
import { ByteWriter, ParquetWriter, schemaFromColumnData } from 'hyparquet-writer'
import { ClickstreamSimulator } from '../../src/clickstream/simulator.ts'
import { lake, lakeTable } from '../../src/connectors/lake/index.ts'
import { type ColumnSpec, columnValue, inferColumns } from '../../src/connectors/lake/schema.ts'
import { foreachBatch } from '../../src/connectors/testing/foreach-batch.ts'
import { memorySource } from '../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { run } from '../../src/runtime/run.ts'

type Row = Record<string, unknown>

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    repeat: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
  },
})
const ROWS = Number(values.rows)
const REPEAT = Number(values.repeat)

function generate(count: number): Row[] {
  const sim = new ClickstreamSimulator({
    seed: 42,
    users: 100_000,
    startTime: Date.parse('2026-11-25T00:00:00Z'),
  })
  return Array.from({ length: count }, () => ({ ...sim.next() }) as Row)
}

async function dirBytes(dir: string): Promise<{ files: number; bytes: number }> {
  let files = 0
  let bytes = 0
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.parquet')) continue
    files++
    bytes += (await stat(join(entry.parentPath, entry.name))).size
  }
  return { files, bytes }
}

interface Result {
  readonly name: string
  readonly ms: number
  readonly rowsPerSecond: number
  readonly files: number
  readonly bytes: number
  readonly sinkRowsPerSecond?: number
  /** Reading the table back through lakeTable() (availableNow), rows/s. */
  readonly readRowsPerSecond?: number
}

function duckType(c: ColumnSpec): DuckDBType {
  return c.kind === 'int32'
    ? duck.INTEGER
    : c.kind === 'double'
      ? duck.DOUBLE
      : c.kind === 'boolean'
        ? duck.BOOLEAN
        : c.kind === 'bigint'
          ? duck.BIGINT
          : duck.VARCHAR
}

/** DuckDB alone: appender + COPY of all rows into one folder, files split at 128 MiB. */
async function rawDuckdb(rows: readonly Row[], dir: string): Promise<Result> {
  const start = performance.now()
  const columns = inferColumns(rows)
  const types = columns.map(duckType)
  const instance = await DuckDBInstance.create(':memory:')
  const connection = await instance.connect()
  await connection.run(
    `CREATE TEMP TABLE t (${columns.map((c, i) => `"${c.name}" ${types[i]?.toString()}`).join(', ')})`,
  )
  const appender = await connection.createAppender('t', 'main', 'temp')
  for (let s = 0; s < rows.length; s += 2048) {
    const e = Math.min(rows.length, s + 2048)
    const chunk = DuckDBDataChunk.create(types, e - s)
    columns.forEach((c, j) => {
      const vals: DuckDBValue[] = new Array(e - s)
      for (let i = s; i < e; i++) vals[i - s] = columnValue(columns, c, rows[i] as Row) as DuckDBValue
      chunk.setColumnValues(j, vals)
    })
    appender.appendDataChunk(chunk)
  }
  appender.flushSync()
  appender.closeSync()
  await connection.run(
    `COPY t TO '${dir}' (FORMAT parquet, COMPRESSION snappy, FILE_SIZE_BYTES ${128 * 1024 * 1024}, FILENAME_PATTERN 'part-{i}')`,
  )
  connection.closeSync()
  instance.closeSync()
  const ms = performance.now() - start
  return {
    name: 'duckdb appender + COPY (raw)',
    ms,
    rowsPerSecond: (rows.length * 1000) / ms,
    ...(await dirBytes(dir)),
  }
}

/** A writer that keeps finished 4 MiB chunks instead of doubling one buffer (hyparquet-writer's ByteWriter). */
class ChunkWriter extends ByteWriter {
  readonly chunks: Uint8Array[] = []
  constructor() {
    super(4 << 20)
  }
  override ensure(size: number): void {
    if (this.index + size <= this.buffer.byteLength) return
    if (this.index > 0) {
      this.chunks.push(new Uint8Array(this.buffer.slice(0, this.index)))
      this.index = 0
    }
    if (size > this.buffer.byteLength) {
      this.buffer = new ArrayBuffer(size)
      this.view = new DataView(this.buffer)
    }
  }
  all(): Uint8Array[] {
    return [...this.chunks, new Uint8Array(this.buffer, 0, this.index)]
  }
}

/** hyparquet-writer alone: one file (row groups of 100 000 rows), the same column types, SNAPPY. */
async function rawHyparquet(rows: readonly Row[], dir: string): Promise<Result> {
  const start = performance.now()
  const columns = inferColumns(rows)
  const columnData = columns.map((c) => {
    const data: unknown[] = new Array(rows.length)
    for (let i = 0; i < rows.length; i++) data[i] = columnValue(columns, c, rows[i] as Row)
    const type =
      c.kind === 'int32'
        ? 'INT32'
        : c.kind === 'double'
          ? 'DOUBLE'
          : c.kind === 'boolean'
            ? 'BOOLEAN'
            : c.kind === 'bigint'
              ? 'INT64'
              : 'STRING'
    return { name: c.name, data, type } as const
  })
  const writer = new ChunkWriter()
  const schema = schemaFromColumnData({ columnData: columnData as never })
  const parquet = new ParquetWriter({ writer, schema, codec: 'SNAPPY' })
  parquet.write({
    columnData: columnData.map(({ name, data }) => ({ name, data })) as never,
    rowGroupSize: 100_000,
  })
  parquet.finish()
  await writeFile(join(dir, 'part-0.parquet'), writer.all())
  const ms = performance.now() - start
  return {
    name: 'hyparquet-writer (raw)',
    ms,
    rowsPerSecond: (rows.length * 1000) / ms,
    ...(await dirBytes(dir)),
  }
}

/** lake() in a pipeline: memorySource → lake sink, availableNow. */
async function throughSluice(rows: readonly Row[], dir: string, partitioned: boolean): Promise<Result> {
  let sinkMs = 0
  const table = join(dir, 'table')
  const sink = lake<Row>({
    path: table,
    ...(partitioned
      ? {
          partitionBy: (e: Row) => ({
            event_date: String(e.event_time).slice(0, 10),
            event_type: e.event_type as string,
          }),
        }
      : {}),
  })
  const start = performance.now()
  await run(pipeline('bench-lake').from(memorySource<Row>('rows', rows)).to(sink), {
    checkpoint: join(dir, 'ckpt'),
    trigger: { kind: 'availableNow' },
    maxBatchRecords: 50_000,
    onProgress: (p) => {
      sinkMs += p.durationMs.sink
    },
  })
  const ms = performance.now() - start
  let read = 0
  const readStart = performance.now()
  await run(
    pipeline('bench-lake-read')
      .from(lakeTable<Row>({ path: table }))
      .to(
        foreachBatch<Row>((batch) => {
          read += batch.rows.length
        }),
      ),
    { checkpoint: join(dir, 'ckpt-read'), trigger: { kind: 'availableNow' }, maxBatchRecords: 50_000 },
  )
  if (read !== rows.length) throw new Error(`read ${read} rows back, wrote ${rows.length}`)
  const readRowsPerSecond = (read * 1000) / (performance.now() - readStart)
  return {
    readRowsPerSecond,
    name: `lake() sink through Sluice${partitioned ? ', partitioned by event_date/event_type' : ''}`,
    ms,
    rowsPerSecond: (rows.length * 1000) / ms,
    sinkRowsPerSecond: (rows.length * 1000) / sinkMs,
    ...(await dirBytes(table)),
  }
}

const rows = generate(ROWS)
const loadAtStart = loadavg().map((l) => Math.round(l * 100) / 100)
const results: Result[] = []
for (let r = 0; r < REPEAT; r++) {
  for (const [name, fn] of [
    ['duckdb', (d: string) => rawDuckdb(rows, d)],
    ['hyparquet', (d: string) => rawHyparquet(rows, d)],
    ['sink', (d: string) => throughSluice(rows, d, false)],
    ['sink-partitioned', (d: string) => throughSluice(rows, d, true)],
  ] as const) {
    const dir = await mkdtemp(join(tmpdir(), `sluice-bench-lake-${name}-`))
    try {
      results.push(await fn(dir))
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }
}

if (values.json) {
  console.log(
    JSON.stringify({ rows: ROWS, cores: cpus().length, loadAtStart, loadAtEnd: loadavg(), results }, null, 2),
  )
} else {
  console.log(
    `${ROWS} clickstream rows → Parquet (SNAPPY); ${cpus().length} cores, load average ${loadAtStart.join(' ')} at start, ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} at end`,
  )
  for (const r of results) {
    const sink = r.sinkRowsPerSecond
      ? `, sink phase ${Math.round(r.sinkRowsPerSecond).toLocaleString('en')} rows/s, read back through lakeTable() ${Math.round(r.readRowsPerSecond ?? 0).toLocaleString('en')} rows/s`
      : ''
    console.log(
      `${r.name.padEnd(70)} ${Math.round(r.rowsPerSecond).toLocaleString('en').padStart(9)} rows/s  ` +
        `${(r.ms / 1000).toFixed(1)} s, ${r.files} files, ${(r.bytes / 1e6).toFixed(1)} MB${sink}`,
    )
  }
}
