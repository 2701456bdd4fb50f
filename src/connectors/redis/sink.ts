import type { SinkSpec } from '../../runtime/sink.ts'
import { describeOptions, type RedisSinkOptions, resolveRedisOptions } from './options.ts'
import { RedisSinkWriter } from './writer.ts'

export type { RedisSinkOptions } from './options.ts'

/**
 * A Redis sink, exactly once: `.to(redis({ url, mode: 'hash', key: 'page:{key}:{window_start}', ttl: '1h' }))`.
 * Each batch's writes, its dead letters (a stream) and the pipeline's positions (a hash) go in one
 * MULTI/EXEC; see README.md in this folder.
 */
export function redis<T>(options: RedisSinkOptions<T>): SinkSpec<T> {
  const settings = resolveRedisOptions(options)
  return {
    type: 'redis',
    options: describeOptions(settings),
    create: () => new RedisSinkWriter<T>(settings),
  }
}
