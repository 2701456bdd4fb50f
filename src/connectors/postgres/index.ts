export type { PgColumnType } from './columns.ts'
export { PostgresError } from './errors.ts'
export { type PostgresSinkOptions, postgres } from './sink.ts'
