export { RedisError } from './errors.ts'
export { DEFAULT_DEAD_LETTER_STREAM, type RedisWriteMode } from './options.ts'
export { type RedisSinkOptions, redis } from './sink.ts'
