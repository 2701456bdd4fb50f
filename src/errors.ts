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

/**
 * Kafka answered with an error or could not be reached. When the cause is that Kafka refused who we are (SASL
 * authentication failed) or what we asked (an ACL denies it), retrying cannot help: the error is the user's to
 * fix, not retried, and exits 2 (code SLUICE_KAFKA_DENIED).
 */
export class KafkaError extends SluiceError {
  constructor(message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    const denied = kafkaRefusal(options.cause)
    super(denied ? 'SLUICE_KAFKA_DENIED' : 'SLUICE_KAFKA', denied ? `${message} (${denied})` : message, {
      domain: denied ? 'user' : 'external',
      cause: options.cause,
      retryable: denied ? false : (options.retryable ?? true),
      ...(denied ? { exitCode: 2 } : {}),
    })
  }
}

/** Kafka error codes that mean an ACL denied the request, and the permission it lacked. */
const AUTHORIZATION_FAILURES: Readonly<Record<number, string>> = {
  29: 'an ACL denies this user access to the topic (TOPIC_AUTHORIZATION_FAILED)',
  30: 'an ACL denies this user access to the consumer group (GROUP_AUTHORIZATION_FAILED)',
  31: 'an ACL denies this user the cluster operation (CLUSTER_AUTHORIZATION_FAILED)',
  53: 'an ACL denies this user the transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED)',
}

/**
 * Why Kafka refused us, when the error chain (causes and the client's nested `errors`) holds a SASL
 * authentication failure or an authorization failure; undefined otherwise.
 */
export function kafkaRefusal(error: unknown, depth = 0): string | undefined {
  if (!(error instanceof Error) || depth > 8) return undefined
  const fields = error as Error & { code?: unknown; apiCode?: unknown; errors?: unknown }
  if (fields.code === 'PLT_KFK_AUTHENTICATION' || fields.apiCode === 58)
    return 'SASL authentication failed: check the user name, password and mechanism'
  if (typeof fields.apiCode === 'number' && AUTHORIZATION_FAILURES[fields.apiCode])
    return AUTHORIZATION_FAILURES[fields.apiCode]
  const inner = [...(Array.isArray(fields.errors) ? fields.errors : []), error.cause]
  for (const next of inner) {
    const found = kafkaRefusal(next, depth + 1)
    if (found) return found
  }
  return undefined
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
