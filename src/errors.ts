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
 * An OAUTHBEARER token could not be had (its file or command failed) or the broker refused it. The client wraps
 * it in its own authentication error; kafkaRefusal finds it there, so the run stops with this message (never
 * the token) and exit 2.
 */
export class KafkaTokenError extends SluiceError {
  constructor(message: string, cause?: unknown) {
    super('SLUICE_KAFKA_TOKEN', message, { domain: 'user', cause, exitCode: 2 })
  }
}

/**
 * Kafka answered with an error or could not be reached. When the cause is that Kafka refused who we are (SASL
 * authentication failed) or what we asked (an ACL denies it), retrying cannot help: the error is the user's to
 * fix, not retried, and exits 2 (code SLUICE_KAFKA_DENIED).
 */
export class KafkaError extends SluiceError {
  /**
   * A refusal leads the message (what was refused comes first), unless `namesRefusal` says the message already
   * names it (kafkaDenied: the permission and how to grant it).
   */
  constructor(
    message: string,
    options: { cause?: unknown; retryable?: boolean; namesRefusal?: boolean } = {},
  ) {
    const denied = kafkaRefusal(options.cause)
    const text = denied && !options.namesRefusal ? `${denied}: ${message}` : message
    super(denied ? 'SLUICE_KAFKA_DENIED' : 'SLUICE_KAFKA', text, {
      domain: denied ? 'user' : 'external',
      cause: options.cause,
      retryable: denied ? false : (options.retryable ?? true),
      ...(denied ? { exitCode: 2 } : {}),
    })
    this.selfContained = options.namesRefusal === true && denied !== undefined
  }

  /** The message says all a user needs (describeError leaves its causes out: the client's wording repeats it). */
  readonly selfContained: boolean
}

/** Kafka's error codes that mean an ACL denied the request, by the kind of resource it was denied on. */
export const AUTHORIZATION_FAILURE_CODES = {
  topic: 29,
  group: 30,
  cluster: 31,
  'transactional-id': 53,
} as const

/** Kafka error codes that mean an ACL denied the request, and the permission it lacked. */
const AUTHORIZATION_FAILURES: Readonly<Record<number, string>> = {
  29: 'an ACL denies this user access to the topic (TOPIC_AUTHORIZATION_FAILED)',
  30: 'an ACL denies this user access to the consumer group (GROUP_AUTHORIZATION_FAILED)',
  31: 'an ACL denies this user the cluster operation (CLUSTER_AUTHORIZATION_FAILED)',
  53: 'an ACL denies this user the transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED)',
}

/** The authorization failure code (29, 30, 31, 53) somewhere in the error chain, if any. */
export function authorizationFailureCode(error: unknown, depth = 0): number | undefined {
  if (!(error instanceof Error) || depth > 8) return undefined
  const fields = error as Error & { apiCode?: unknown; errors?: unknown }
  if (typeof fields.apiCode === 'number' && AUTHORIZATION_FAILURES[fields.apiCode]) return fields.apiCode
  for (const next of [...(Array.isArray(fields.errors) ? fields.errors : []), error.cause]) {
    const found = authorizationFailureCode(next, depth + 1)
    if (found !== undefined) return found
  }
  return undefined
}

/** OpenSSL's codes for a TLS alert a broker sends when the client certificate is missing or not trusted. */
const CLIENT_CERTIFICATE_ALERT =
  /^ERR_SSL_.*ALERT_(BAD_CERTIFICATE|CERTIFICATE_REQUIRED|UNKNOWN_CA|CERTIFICATE_UNKNOWN)$/

/**
 * Why Kafka refused us, when the error chain (causes and the client's nested `errors`) holds a SASL
 * authentication failure or an authorization failure; undefined otherwise.
 */
export function kafkaRefusal(error: unknown, depth = 0): string | undefined {
  if (!(error instanceof Error) || depth > 8) return undefined
  const fields = error as Error & { code?: unknown; apiCode?: unknown; errors?: unknown }
  const token = error instanceof KafkaTokenError ? error : findTokenError(error.cause)
  if (token) return `SASL OAUTHBEARER authentication failed: ${token.message}`
  if (fields.code === 'PLT_KFK_AUTHENTICATION' || fields.apiCode === 58)
    return 'SASL authentication failed: check the user name, password and mechanism'
  if (typeof fields.code === 'string' && CLIENT_CERTIFICATE_ALERT.test(fields.code))
    return 'the broker requires a client certificate signed by a CA it trusts (mTLS): give --ssl-certificate-location and --ssl-key-location, or --ssl-keystore-location'
  if (typeof fields.apiCode === 'number' && AUTHORIZATION_FAILURES[fields.apiCode])
    return AUTHORIZATION_FAILURES[fields.apiCode]
  const inner = [...(Array.isArray(fields.errors) ? fields.errors : []), error.cause]
  for (const next of inner) {
    const found = kafkaRefusal(next, depth + 1)
    if (found) return found
  }
  return undefined
}

function findTokenError(error: unknown, depth = 0): KafkaTokenError | undefined {
  if (error instanceof KafkaTokenError) return error
  if (!(error instanceof Error) || depth > 8) return undefined
  return findTokenError(error.cause, depth + 1)
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
    if (current instanceof KafkaError && current.selfContained) break
    // Clients report the real reason (connection refused, broker error) inside an AggregateError's errors.
    if (current instanceof AggregateError) {
      for (const inner of current.errors.slice(0, 3)) if (inner instanceof Error) add(describeError(inner))
    }
    current = current.cause
  }
  return parts.join(': ')
}
