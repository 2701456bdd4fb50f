import type { SinkSpec } from '../../runtime/sink.ts'
import { describeOptions, type MongoSinkOptions, resolveMongoOptions } from './options.ts'
import { MongoSinkWriter } from './writer.ts'

export type { MongoSinkOptions } from './options.ts'

/**
 * A MongoDB sink, exactly once: `.to(mongodb({ url, database: 'shop', collection: 'page_metrics', key: ['key',
 * 'window_start'] }))`. Each batch's documents, its dead letters and the pipeline's positions (one document per
 * source partition) are written in one transaction where the server has them, otherwise with `_id`s a replay
 * makes again, before the positions move; see README.md in this folder.
 */
export function mongodb<T>(options: MongoSinkOptions<T>): SinkSpec<T> {
  const settings = resolveMongoOptions(options)
  return {
    type: 'mongodb',
    options: describeOptions(settings),
    create: () => new MongoSinkWriter<T>(settings),
  }
}
