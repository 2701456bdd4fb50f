/**
 * The process the SQL sinks' 200k-event crash test kills:
 * node crash-200k-child.ts <postgres|mysql|duckdb|redis|mongodb> <database url or DuckDB file> <input dir> <checkpoint dir> <batch records>
 * Two pipelines over the same JSON-lines files run side by side until the input is read: the events parsed
 * and projected, appended to crash_clicks; and per event type and minute the events and cart items, upserted
 * into crash_counts in update mode (windowed state, checkpointed). Prints "<pipeline> <batch id>" for every
 * committed batch, then "done"; "<pipeline> sink-committed <batch id>" as soon as the sink's commit returned
 * (before the checkpoint marks the batch: the parent may kill right then); logs JSON lines to stderr.
 */
import { aggregates, count, sum } from '../../../src/aggregate/index.ts'
import { type ClickEventRecord, clickEventSchema } from '../../../src/clickstream/zod-schema.ts'
import { files } from '../../../src/connectors/files/index.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { createLogger } from '../../../src/log.ts'
import { run } from '../../../src/runtime/run.ts'
import type { SinkSpec, SinkWriter } from '../../../src/runtime/sink.ts'
import { tumbling } from '../../../src/window/index.ts'
import { type Click, project, type WindowCount } from './crash-200k-input.ts'

export const CLICKS_PIPELINE = 'crash-200k-clicks'
export const COUNTS_PIPELINE = 'crash-200k-counts'
export type SqlSinkKind = 'postgres' | 'mysql' | 'duckdb' | 'redis' | 'mongodb'

interface Sinks {
  readonly clicks: SinkSpec<Click>
  readonly counts: SinkSpec<WindowCount>
}

async function sinksFor(kind: SqlSinkKind, location: string): Promise<Sinks> {
  const upsert = { table: 'crash_counts', mode: 'upsert', key: ['key', 'window_start'] } as const
  switch (kind) {
    case 'postgres': {
      const { postgres } = await import('../../../src/connectors/postgres/index.ts')
      return {
        clicks: postgres<Click>({ url: location, table: 'crash_clicks', createTable: true }),
        counts: postgres<WindowCount>({ url: location, ...upsert, createTable: true }),
      }
    }
    case 'mysql': {
      const { mysql } = await import('../../../src/connectors/mysql/index.ts')
      return {
        clicks: mysql<Click>({ url: location, table: 'crash_clicks', createTable: true }),
        counts: mysql<WindowCount>({ url: location, ...upsert, createTable: true }),
      }
    }
    case 'duckdb': {
      const { duckdb } = await import('../../../src/connectors/duckdb/index.ts')
      return {
        clicks: duckdb<Click>({ path: location, table: 'crash_clicks' }),
        counts: duckdb<WindowCount>({ path: location, ...upsert }),
      }
    }
    case 'redis': {
      // The append as entries of one stream, the upsert as a hash per window.
      const { redis } = await import('../../../src/connectors/redis/index.ts')
      return {
        clicks: redis<Click>({ url: location, mode: 'stream', key: 'crash_clicks' }),
        counts: redis<WindowCount>({ url: location, mode: 'hash', key: 'crash_counts:{key}:{window_start}' }),
      }
    }
    case 'mongodb': {
      // The URL's path names the database: the append as inserts, the upsert by the window's key as _id.
      const { mongodb } = await import('../../../src/connectors/mongodb/index.ts')
      const database = new URL(location).pathname.slice(1)
      return {
        clicks: mongodb<Click>({ url: location, database, collection: 'crash_clicks' }),
        counts: mongodb<WindowCount>({
          url: location,
          database,
          collection: 'crash_counts',
          key: ['key', 'window_start'],
        }),
      }
    }
  }
}

/** The sink as it is, printing a line the moment its commit returned. */
function reportingCommits<T>(name: string, inner: SinkSpec<T>): SinkSpec<T> {
  return {
    ...inner,
    create(): SinkWriter<T> {
      const writer = inner.create()
      return {
        description: writer.description,
        open: (context) => writer.open(context),
        write: (batch) => writer.write(batch),
        async commit(batch, context) {
          await writer.commit(batch, context)
          process.stdout.write(`${name} sink-committed ${batch.batchId}\n`)
        },
        ...(writer.abort && { abort: (batch) => writer.abort!(batch) }),
        ...(writer.hasCommitted && { hasCommitted: (batch) => writer.hasCommitted!(batch) }),
        ...(writer.committedPosition && { committedPosition: () => writer.committedPosition!() }),
        close: () => writer.close(),
      }
    },
  }
}

if (import.meta.main) {
  const [kind, location, input, checkpoint, batch] = process.argv.slice(2)
  if (!kind || !location || !input || !checkpoint || !batch)
    throw new Error(
      'usage: crash-200k-child.ts <postgres|mysql|duckdb|redis|mongodb> <url or file> <input dir> <checkpoint dir> <batch records>',
    )
  const sinks = await sinksFor(kind as SqlSinkKind, location)
  const source = () => files({ path: input, format: 'jsonl' })
  const clicks = pipeline(CLICKS_PIPELINE)
    .from(source())
    .parse(clickEventSchema)
    .map(project)
    .to(reportingCommits(CLICKS_PIPELINE, sinks.clicks))
  const counts = pipeline(COUNTS_PIPELINE)
    .from(source())
    .parse(clickEventSchema)
    .withWatermark('event_time', '30s')
    .keyBy((e) => e.event_type)
    .window(tumbling('1m'))
    .aggregate(
      aggregates({
        events: count<ClickEventRecord>(),
        items: sum((e: ClickEventRecord) => e.cart?.items ?? 0),
      }),
      { outputMode: 'update' },
    )
    .to(reportingCommits(COUNTS_PIPELINE, sinks.counts))
  const options = (name: string) => ({
    checkpoint: `${checkpoint}/${name}`,
    trigger: { kind: 'availableNow' } as const,
    maxBatchRecords: Number(batch),
    onProgress: (p: { batchId: number }) => process.stdout.write(`${name} ${p.batchId}\n`),
    // JSON lines on stderr: the parent counts the recoveries (a batch marked or replayed after a kill).
    logger: createLogger({ level: 'info', name }),
  })
  await Promise.all([run(clicks, options(CLICKS_PIPELINE)), run(counts, options(COUNTS_PIPELINE))])
  process.stdout.write('done\n')
}
