/**
 * (b) into PostgreSQL: the window pipeline (one-minute views and approximate users per page, update mode)
 * upserting its rows by (key, window_start) into a table, exactly-once (rows and offsets in one transaction
 * per batch). The server is a private PostgreSQL cluster started by this process (fsync off, like the
 * tests); its CPU time is not in the workload's.
 */
import { aggregates, approxCountDistinct, count } from '../../src/aggregate/index.ts'
import { kafka } from '../../src/connectors/kafka/source.ts'
import { postgres } from '../../src/connectors/postgres/index.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { tumbling } from '../../src/window/index.ts'
import { startPostgres } from '../../test/helpers/postgres.ts'
import { measureBacklog, runWorkload } from '../lib/child.ts'
import { type BenchClickEvent, clickEventSchema } from '../lib/schema.ts'

runWorkload(async (config) => {
  const db = await startPostgres()
  try {
    const p = pipeline(`${config.runId}-window-pg`)
      .from(kafka({ topics: config.inputTopic, brokers: config.brokers, startingOffsets: 'earliest' }))
      .parse(clickEventSchema)
      .withWatermark('event_time', '10s')
      .keyBy((e) => e.page.path)
      .window(tumbling('1m'))
      .aggregate(
        aggregates({ views: count(), users: approxCountDistinct((e: BenchClickEvent) => e.user_id) }),
        { outputMode: 'update' },
      )
      .to(
        postgres({
          url: db.url,
          table: 'page_views',
          mode: 'upsert',
          key: ['key', 'window_start'],
          createTable: true,
          columns: {
            key: 'text',
            window_start: 'timestamptz',
            window_end: 'timestamptz',
            views: 'bigint',
            users: 'bigint',
          },
        }),
      )
    const result = await measureBacklog('window-pg', p, config, {
      records: config.inputRecords,
      bytes: config.inputBytes,
    })
    const pg = await import('pg')
    const client = new pg.default.Client({ connectionString: db.url })
    await client.connect()
    const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM page_views')
    await client.end()
    return { ...result, notes: [...(result.notes ?? []), `page_views holds ${rows[0]?.n} window rows`] }
  } finally {
    await db.stop()
  }
})
