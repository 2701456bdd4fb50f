import { SluiceError } from '../errors.ts'

/**
 * The schema registry refused a request (with its own message and error code: 40403 schema not found, 409
 * incompatible, 42201 invalid schema…) or could not be reached. A refusal is the user's to fix and is not
 * retried; an unreachable registry or a 5xx is.
 */
export class RegistryError extends SluiceError {
  /** The registry's error_code (Confluent's: 40401 subject not found, 40403 schema not found…), if it sent one. */
  readonly registryCode: number | undefined
  /** The HTTP status, or undefined when there was no answer. */
  readonly status: number | undefined

  constructor(message: string, options: { cause?: unknown; status?: number; registryCode?: number } = {}) {
    const refused = options.status !== undefined && options.status < 500
    super('SLUICE_REGISTRY', message, {
      domain: refused ? 'user' : 'external',
      retryable: !refused,
      cause: options.cause,
      ...(refused ? { exitCode: 2 } : {}),
    })
    this.status = options.status
    this.registryCode = options.registryCode
  }
}

/** Confluent's error code for a schema id the registry does not know. */
export const SCHEMA_NOT_FOUND = 40403
/** Confluent's error code for a subject the registry does not know. */
export const SUBJECT_NOT_FOUND = 40401
