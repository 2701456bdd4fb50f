import type { SinkSpec } from '../../runtime/sink.ts'
import { acquireDatabase, isMemoryLocation, type SharedDatabase } from './database.ts'
import { type DuckDBSinkOptions, describeOptions, resolveDuckDBOptions } from './options.ts'
import { DuckDBSinkWriter } from './writer.ts'

export type { DuckDBSinkOptions } from './options.ts'

export type DuckDBQueryParameter = string | number | bigint | boolean | null

/** A DuckDB sink spec, which can also query the database it writes. */
export interface DuckDBSink<T> extends SinkSpec<T> {
  /**
   * Runs SQL on the sink's database (its own connection: it sees committed data) and returns the rows as JS
   * values (BIGINT as bigint, timestamps as Date, JSON as text).
   */
  query(sql: string, parameters?: readonly DuckDBQueryParameter[]): Promise<Record<string, unknown>[]>
  /** Lets go of an in-memory database kept for query() after the pipeline stopped. */
  close(): Promise<void>
}

/**
 * A DuckDB table as a sink, exactly-once: each batch's rows, its dead letters and the pipeline's position
 * (a row of `sluice_offsets`) commit in one DuckDB transaction, so after a crash the runtime knows whether the
 * batch landed. `.to(duckdb({ path: 'data/warehouse.duckdb', table: 'page_metrics', mode: 'upsert',
 * key: ['key', 'window_start'] }))`.
 */
export function duckdb<T>(options: DuckDBSinkOptions<T>): DuckDBSink<T> {
  const settings = resolveDuckDBOptions(options)
  // An in-memory database lives as long as the spec, not the pipeline: query() reads it after run() returns.
  let kept: SharedDatabase | undefined
  const keep = async (db: SharedDatabase) => {
    if (!kept && isMemoryLocation(settings.key)) kept = await acquireDatabase(db.key, db.location)
  }
  return {
    type: 'duckdb',
    options: describeOptions(settings),
    singleInstance:
      'DuckDB allows one writing process per database file, so the pipeline runs as one instance',
    create: () => new DuckDBSinkWriter<T>(settings, keep),
    async query(sql, parameters = []) {
      const db = await acquireDatabase(settings.key, settings.location)
      try {
        const connection = await db.connect()
        try {
          const reader = await connection.runAndReadAll(sql, [...parameters])
          return reader.getRowObjectsJS()
        } finally {
          connection.closeSync()
        }
      } finally {
        db.release()
      }
    },
    async close() {
      kept?.release()
      kept = undefined
    },
  }
}
