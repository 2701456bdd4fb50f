import type { SinkSpec } from '../../runtime/sink.ts'
import { describeOptions, type MySqlSinkOptions, resolveMySqlOptions } from './options.ts'
import { MySqlSinkWriter } from './writer.ts'

export type { MySqlSinkOptions } from './options.ts'

/**
 * A MySQL or MariaDB table, exactly once: `.to(mysql({ table: 'page_metrics', mode: 'upsert', key: ['key',
 * 'window_start'], createTable: true }))`. Each batch's rows, its dead letters and the pipeline's source
 * positions commit in one transaction (one position per source partition when instances share them:
 * scaleOut, and then also the state changes of keyed steps, in the database's changelog tables).
 */
export function mysql<T>(options: MySqlSinkOptions<T>): SinkSpec<T> {
  const settings = resolveMySqlOptions(options)
  return {
    type: 'mysql',
    options: describeOptions(settings),
    // Instances share the source's partitions, each with a row of a position per partition; keyed state
    // travels in the same database transactions.
    ...(settings.scaleOut ? { scalesOut: 'with-state' as const } : {}),
    create: () => new MySqlSinkWriter<T>(settings),
  }
}
