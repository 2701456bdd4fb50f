import { SluiceError } from '../../errors.ts'

/** Redis answered with an error, or could not be reached. */
export class RedisError extends SluiceError {
  constructor(
    message: string,
    options: { cause?: unknown; retryable?: boolean; domain?: 'user' | 'external' } = {},
  ) {
    super('SLUICE_REDIS', message, {
      domain: options.domain ?? 'external',
      cause: options.cause,
      retryable: options.retryable ?? true,
    })
  }
}

/** The server's message of an error reply (ErrorReply, MultiErrorReply's parts), or the error's text. */
export function serverMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
