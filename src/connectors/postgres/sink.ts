import type { SinkSpec } from '../../runtime/sink.ts'
import { describeOptions, type PostgresSinkOptions, resolvePostgresOptions } from './options.ts'
import { PostgresSinkWriter } from './writer.ts'

export type { PostgresSinkOptions } from './options.ts'

/**
 * A PostgreSQL sink, exactly once: `.to(postgres({ table: 'page_metrics', mode: 'upsert', key: ['key',
 * 'window_start'], createTable: true }))`. Each batch's rows, its dead letters and the pipeline's position
 * commit in one transaction (one position per source partition when instances share them: scaleOut, and
 * then also the state changes of keyed steps, in the database's changelog tables).
 */
export function postgres<T>(options: PostgresSinkOptions<T>): SinkSpec<T> {
  const settings = resolvePostgresOptions(options)
  return {
    type: 'postgres',
    options: describeOptions(settings),
    // Instances share the source's partitions, each with a row of a position per partition; keyed state
    // travels in the same database transactions.
    ...(settings.scaleOut ? { scalesOut: 'with-state' as const } : {}),
    create: () => new PostgresSinkWriter<T>(settings),
  }
}
