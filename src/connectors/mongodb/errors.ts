import { SluiceError } from '../../errors.ts'

/** MongoDB answered with an error, or could not be reached. */
export class MongoSinkError extends SluiceError {
  constructor(
    message: string,
    options: { cause?: unknown; retryable?: boolean; domain?: 'user' | 'external' } = {},
  ) {
    super('SLUICE_MONGODB', message, {
      domain: options.domain ?? 'external',
      cause: options.cause,
      retryable: options.retryable ?? true,
    })
  }
}

/** The server's message (a write error's errmsg, a command error's message), or the error's text. */
export function serverMessage(error: unknown): string {
  if (error !== null && typeof error === 'object' && 'errmsg' in error && typeof error.errmsg === 'string')
    return error.errmsg
  return error instanceof Error ? error.message : String(error)
}
