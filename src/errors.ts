/**
 * Every error Sluice throws on purpose is a SluiceError: a stable code to match on, a domain that says
 * whose move it is (the user's input, something outside us, or our own bug), and whether retrying can help.
 */
export type ErrorDomain = 'user' | 'external' | 'internal'

export interface SluiceErrorOptions {
  readonly domain: ErrorDomain
  readonly retryable?: boolean
  readonly cause?: unknown
  /** The plan operator the error belongs to, when there is one. */
  readonly operatorId?: string
  /** Suggested process exit code when the error reaches the CLI. */
  readonly exitCode?: number
}

export class SluiceError extends Error {
  readonly code: string
  readonly domain: ErrorDomain
  readonly retryable: boolean
  readonly operatorId: string | undefined
  readonly exitCode: number

  constructor(code: string, message: string, options: SluiceErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.code = code
    this.domain = options.domain
    this.retryable = options.retryable ?? false
    this.operatorId = options.operatorId
    this.exitCode = options.exitCode ?? 1
  }
}

/** Bad flags, bad options, bad pipeline definitions: the user can fix it. */
export class UsageError extends SluiceError {
  constructor(message: string, cause?: unknown) {
    super('SLUICE_USAGE', message, { domain: 'user', cause, exitCode: 2 })
  }
}

/** A tool Sluice runs (java, mvn) is missing or too old. */
export class MissingToolError extends SluiceError {
  constructor(message: string) {
    super('SLUICE_MISSING_TOOL', message, { domain: 'external', exitCode: 2 })
  }
}

/** The local broker could not be started, reached or stopped. */
export class LocalKafkaError extends SluiceError {
  constructor(message: string, cause?: unknown) {
    super('SLUICE_LOCAL_KAFKA', message, { domain: 'external', cause })
  }
}

/** Kafka answered with an error or could not be reached. */
export class KafkaError extends SluiceError {
  constructor(message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super('SLUICE_KAFKA', message, {
      domain: 'external',
      cause: options.cause,
      retryable: options.retryable ?? true,
    })
  }
}

/** Human-readable one-liner for an unknown thrown value, following `cause` chains. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error)
  const parts: string[] = []
  const add = (message: string) => {
    const text = message.trim().replace(/\.$/, '')
    if (text && !parts.some((p) => p.includes(text))) parts.push(text)
  }
  let current: unknown = error
  for (let depth = 0; current instanceof Error && depth < 5; depth++) {
    add(current.message)
    // Clients report the real reason (connection refused, broker error) inside an AggregateError's errors.
    if (current instanceof AggregateError) {
      for (const inner of current.errors.slice(0, 3)) if (inner instanceof Error) add(describeError(inner))
    }
    current = current.cause
  }
  return parts.join(': ')
}
