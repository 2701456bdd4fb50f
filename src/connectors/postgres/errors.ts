import { SluiceError } from '../../errors.ts'

/** PostgreSQL answered with an error, or could not be reached. */
export class PostgresError extends SluiceError {
  /** The SQLSTATE, when the database sent one. */
  readonly sqlState: string | undefined

  constructor(
    message: string,
    options: { cause?: unknown; retryable?: boolean; domain?: 'user' | 'external'; sqlState?: string },
  ) {
    super('SLUICE_POSTGRES', message, {
      domain: options.domain ?? 'external',
      cause: options.cause,
      retryable: options.retryable ?? false,
    })
    this.sqlState = options.sqlState
  }
}

/** The fields of a pg DatabaseError we use, read defensively from an unknown error. */
export interface DbErrorFields {
  readonly code: string | undefined
  readonly message: string
  readonly detail: string | undefined
  readonly where: string | undefined
}

export function dbError(error: unknown): DbErrorFields {
  const e = (error ?? {}) as { code?: unknown; message?: unknown; detail?: unknown; where?: unknown }
  const str = (v: unknown) => (typeof v === 'string' && v.length > 0 ? v : undefined)
  return {
    code: str(e.code),
    message: str(e.message) ?? String(error),
    detail: str(e.detail),
    where: str(e.where),
  }
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ENOENT', // a unix socket that is not there (yet)
])

/**
 * Failures that go away by themselves: the server is down, restarting, shutting down or overloaded, the
 * connection broke, or a transaction lost a serialization race. The pipeline restarts from its checkpoint
 * (with backoff) and the database tells it what was committed.
 */
export function isTransient(error: unknown): boolean {
  const { code, message } = dbError(error)
  if (code !== undefined) {
    if (CONNECTION_CODES.has(code)) return true
    if (code.startsWith('08')) return true // connection exception
    if (['57P01', '57P02', '57P03', '53300', '53400', '40001', '40P01', '55P03'].includes(code)) return true
  }
  if (error instanceof AggregateError) return error.errors.some(isTransient)
  return /Connection terminated|connection error|not queryable|Client was closed|timeout exceeded when trying to connect|terminating connection/i.test(
    message,
  )
}

/**
 * A row the table does not accept: data exceptions (class 22: too long, invalid text, out of range, bad
 * encoding) and integrity violations (class 23: not null, unique, check, foreign key); also 21000, an
 * upsert meeting one table row twice (two keys the database finds equal, such as two spellings of one
 * timestamp), which goes away when the rows are written apart; and 54000, a row too big for a page or an
 * index entry (values of fixed-width columns that cannot be moved out of line).
 */
export function isDataError(error: unknown): boolean {
  const { code } = dbError(error)
  return (
    code !== undefined &&
    (code.startsWith('22') || code.startsWith('23') || code === '21000' || code === '54000')
  )
}

/** The 1-based line of COPY data the error is about ("COPY t, line 3, column n: …"), if the database said. */
export function copyLine(error: unknown): number | undefined {
  const { where } = dbError(error)
  const match = where ? /\bCOPY [^\n]*?, line (\d+)/.exec(where) : null
  return match ? Number(match[1]) : undefined
}

/** Wraps anything a query threw: transient failures become retryable, the rest keeps the database's words. */
export function wrapError(error: unknown, doing: string): SluiceError {
  if (error instanceof SluiceError) return error
  const fields = dbError(error)
  const state = fields.code && /^[0-9A-Z]{5}$/.test(fields.code) ? ` (SQLSTATE ${fields.code})` : ''
  const detail = fields.detail ? `: ${fields.detail}` : ''
  return new PostgresError(`PostgreSQL: ${doing} failed: ${fields.message}${detail}${state}`, {
    cause: error,
    retryable: isTransient(error),
    ...(fields.code ? { sqlState: fields.code } : {}),
  })
}
