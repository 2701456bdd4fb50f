import { SluiceError } from '../../errors.ts'

/** The server could not be reached or answered with an error that is not about a row's data. */
export class MySqlError extends SluiceError {
  constructor(message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super('SLUICE_MYSQL', message, {
      domain: 'external',
      cause: options.cause,
      retryable: options.retryable ?? false,
    })
  }
}

/** The table refused rows of a batch and the sink was told to stop (`onError: 'fail'`). */
export class MySqlRejectedError extends SluiceError {
  constructor(message: string, cause?: unknown) {
    super('SLUICE_MYSQL_REJECTED', message, { domain: 'user', cause })
  }
}

/** What the mysql2 client puts on its errors (server errors carry errno and sqlState, socket errors a code). */
export interface ServerError {
  readonly message: string
  readonly code?: string
  readonly errno?: number
  readonly sqlState?: string
  readonly fatal?: boolean
}

export function asServerError(error: unknown): ServerError | undefined {
  if (!(error instanceof Error)) return undefined
  return error as Error & ServerError
}

/** Socket-level failures: the server went away, restarted, or never answered. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENOENT', // a Unix socket that is not there (yet)
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'PROTOCOL_PACKETS_OUT_OF_ORDER',
])

/** Server errors that go away when tried again: shutdown, too many connections, deadlocks, lock waits. */
const RETRYABLE_ERRNOS = new Set([
  1040, // ER_CON_COUNT_ERROR: too many connections
  1053, // ER_SERVER_SHUTDOWN
  1077, // ER_NORMAL_SHUTDOWN
  1152, // ER_ABORTING_CONNECTION
  1158, // ER_NET_READ_ERROR
  1159, // ER_NET_READ_INTERRUPTED
  1160, // ER_NET_ERROR_ON_WRITE
  1161, // ER_NET_WRITE_INTERRUPTED
  1205, // ER_LOCK_WAIT_TIMEOUT (another instance of the pipeline holds its offsets row)
  1213, // ER_LOCK_DEADLOCK
  1290, // ER_OPTION_PREVENTS_STATEMENT: --read-only during a failover
  1927, // ER_CONNECTION_KILLED
  2006, // CR_SERVER_GONE_ERROR
  2013, // CR_SERVER_LOST
  4031, // ER_CLIENT_INTERACTION_TIMEOUT
])

/**
 * Errors about one row's data: NULL in a NOT NULL column, a value too long or of the wrong type, a duplicate
 * key, a failed CHECK or foreign key. SQLSTATE classes 22 (data exception) and 23 (integrity constraint
 * violation) cover most; a few MariaDB/MySQL codes carry a general SQLSTATE.
 */
const DATA_ERRNOS = new Set([
  1048, // ER_BAD_NULL_ERROR
  1062, // ER_DUP_ENTRY
  1264, // ER_WARN_DATA_OUT_OF_RANGE
  1265, // WARN_DATA_TRUNCATED
  1292, // ER_TRUNCATED_WRONG_VALUE
  1300, // ER_INVALID_CHARACTER_STRING
  1364, // ER_NO_DEFAULT_FOR_FIELD
  1366, // ER_TRUNCATED_WRONG_VALUE_FOR_FIELD
  1367, // ER_ILLEGAL_VALUE_FOR_TYPE
  1406, // ER_DATA_TOO_LONG
  1411, // ER_WRONG_VALUE_FOR_TYPE
  1451, // ER_ROW_IS_REFERENCED_2
  1452, // ER_NO_REFERENCED_ROW_2
  1526, // ER_NO_PARTITION_FOR_GIVEN_VALUE
  1690, // ER_DATA_OUT_OF_RANGE
  3140, // ER_INVALID_JSON_TEXT (MySQL)
  3819, // ER_CHECK_CONSTRAINT_VIOLATED (MySQL)
  4025, // ER_CONSTRAINT_FAILED (MariaDB; also a JSON column's json_valid check)
])

export type ErrorKind = 'data' | 'retryable' | 'other'

export function classify(error: unknown): ErrorKind {
  const e = asServerError(error)
  if (!e) return 'other'
  if (e.errno !== undefined && DATA_ERRNOS.has(e.errno)) return 'data'
  if (e.sqlState && /^2[23]/.test(e.sqlState) && e.errno !== undefined && !RETRYABLE_ERRNOS.has(e.errno))
    return 'data'
  if (e.code && NETWORK_CODES.has(e.code)) return 'retryable'
  if (e.errno !== undefined && RETRYABLE_ERRNOS.has(e.errno)) return 'retryable'
  // mysql2 marks errors after which the connection is unusable as fatal; a later command on a closed
  // connection fails without a code.
  if (e.fatal) return 'retryable'
  if (/connection is in closed state|connection lost|pool is closed/i.test(e.message)) return 'retryable'
  if (error instanceof AggregateError && error.errors.some((inner) => classify(inner) === 'retryable'))
    return 'retryable'
  return 'other'
}

/** The server's message for a refused row, without the statement-relative " at row N". */
export function rowMessage(error: unknown): string {
  const e = asServerError(error)
  const message = e?.message ?? String(error)
  return message.replace(/ at row \d+$/, '')
}

/** Wraps a client error as a SluiceError: retryable when the server went away, otherwise not. */
export function wrapError(error: unknown, what: string): unknown {
  if (error instanceof SluiceError) return error
  const e = asServerError(error)
  let detail = e ? e.message : String(error)
  if (/connection is in closed state/i.test(detail))
    detail = `the connection is closed: the server went away or restarted (${detail})`
  else if (e?.code && !detail.includes(e.code)) detail = detail ? `${e.code}: ${detail}` : e.code
  return new MySqlError(`${what}: ${detail || 'unknown error'}`, {
    cause: error,
    retryable: classify(error) === 'retryable',
  })
}
