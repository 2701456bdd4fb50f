export { MySqlError, MySqlRejectedError } from './errors.ts'
export { type MySqlSinkOptions, mysql } from './sink.ts'
