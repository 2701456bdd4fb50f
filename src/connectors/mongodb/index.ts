export { MongoSinkError } from './errors.ts'
export {
  DEFAULT_DEAD_LETTER_COLLECTION,
  DEFAULT_POSITIONS_COLLECTION,
  type MongoWriteMode,
} from './options.ts'
export { type MongoSinkOptions, mongodb } from './sink.ts'
export type { MongoSinkContract } from './writer.ts'
