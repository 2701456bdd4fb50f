import { readFileSync } from 'node:fs'
import type { ConnectionOptions, SASLOptions } from '@platformatic/kafka'
import { UsageError } from '../../errors.ts'
import { checkTokenFile, oauthbearerAnswerValidator, type TokenSource, tokenProvider } from './oauth-token.ts'

export const SECURITY_PROTOCOLS = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'] as const
export type SecurityProtocol = (typeof SECURITY_PROTOCOLS)[number]
export const SASL_MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512', 'OAUTHBEARER'] as const
export type SaslMechanism = (typeof SASL_MECHANISMS)[number]

/**
 * How to authenticate to Kafka and protect the connection, in the terms Kafka users know (librdkafka's key
 * names, camel-cased). The one shape built from CLI flags, a client properties file, environment variables,
 * a YAML pipeline's `security` and the TypeScript API.
 */
export interface KafkaSecurity {
  readonly securityProtocol?: SecurityProtocol
  readonly saslMechanism?: SaslMechanism
  readonly saslUsername?: string
  readonly saslPassword?: string
  /** The bearer token for OAUTHBEARER, as it is (it is not renewed). */
  readonly saslOauthbearerToken?: string
  /** A file holding the OAUTHBEARER token, read again at each (re-)authentication: an outside refresher renews it. */
  readonly saslOauthbearerTokenFile?: string
  /** A shell command printing the OAUTHBEARER token on stdout, run at each (re-)authentication. */
  readonly saslOauthbearerTokenCommand?: string
  /** PEM file of the CA(s) that signed the brokers' certificates; default: the system's CAs. */
  readonly sslCaLocation?: string
  /** PEM client certificate, for brokers that require one (mTLS). */
  readonly sslCertificateLocation?: string
  /** PEM private key of the client certificate. */
  readonly sslKeyLocation?: string
  readonly sslKeyPassword?: string
  /** PKCS#12 file with the client key and certificate (mTLS), instead of the two PEM files. */
  readonly sslKeystoreLocation?: string
  readonly sslKeystorePassword?: string
  /** False skips checking that the broker's certificate names the host connected to (it is still verified). */
  readonly sslEndpointIdentification?: boolean
}

/** The fields that hold secrets: never printed, never put in an error message. */
export const SECRET_FIELDS = [
  'saslPassword',
  'saslOauthbearerToken',
  // A command may carry a client secret in its arguments.
  'saslOauthbearerTokenCommand',
  'sslKeyPassword',
  'sslKeystorePassword',
] as const

type Field = keyof KafkaSecurity

/** Environment variables, one per field (KAFKA_ + the librdkafka key upper-cased). */
export const SECURITY_ENV: Readonly<Record<Field, string>> = {
  securityProtocol: 'KAFKA_SECURITY_PROTOCOL',
  saslMechanism: 'KAFKA_SASL_MECHANISM',
  saslUsername: 'KAFKA_SASL_USERNAME',
  saslPassword: 'KAFKA_SASL_PASSWORD',
  saslOauthbearerToken: 'KAFKA_SASL_OAUTHBEARER_TOKEN',
  saslOauthbearerTokenFile: 'KAFKA_SASL_OAUTHBEARER_TOKEN_FILE',
  saslOauthbearerTokenCommand: 'KAFKA_SASL_OAUTHBEARER_TOKEN_COMMAND',
  sslCaLocation: 'KAFKA_SSL_CA_LOCATION',
  sslCertificateLocation: 'KAFKA_SSL_CERTIFICATE_LOCATION',
  sslKeyLocation: 'KAFKA_SSL_KEY_LOCATION',
  sslKeyPassword: 'KAFKA_SSL_KEY_PASSWORD',
  sslKeystoreLocation: 'KAFKA_SSL_KEYSTORE_LOCATION',
  sslKeystorePassword: 'KAFKA_SSL_KEYSTORE_PASSWORD',
  sslEndpointIdentification: 'KAFKA_SSL_ENDPOINT_IDENTIFICATION',
}

/** Checks a protocol or mechanism name given as text (flag, env, properties), case-insensitively. */
export function oneOf<T extends string>(value: string, allowed: readonly T[], what: string): T {
  const found = allowed.find((a) => a === value.trim().toUpperCase())
  if (found === undefined)
    throw new UsageError(`Unknown ${what} "${value}": expected one of ${allowed.join(', ')}.`)
  return found
}

export function booleanText(value: string, what: string): boolean {
  const text = value.trim().toLowerCase()
  if (['true', '1', 'yes', 'https'].includes(text)) return true
  if (['false', '0', 'no', 'none', ''].includes(text)) return false
  throw new UsageError(`${what} must be true or false, got "${value}".`)
}

/** The security fields set in the environment (see SECURITY_ENV). */
export function securityFromEnv(env: NodeJS.ProcessEnv = process.env): KafkaSecurity {
  const text = (field: Field) => {
    const value = env[SECURITY_ENV[field]]
    return value === undefined || value === '' ? undefined : value
  }
  const protocol = text('securityProtocol')
  const mechanism = text('saslMechanism')
  const identification = env[SECURITY_ENV.sslEndpointIdentification]
  const fields: Record<string, unknown> = {
    ...(protocol
      ? { securityProtocol: oneOf(protocol, SECURITY_PROTOCOLS, SECURITY_ENV.securityProtocol) }
      : {}),
    ...(mechanism ? { saslMechanism: oneOf(mechanism, SASL_MECHANISMS, SECURITY_ENV.saslMechanism) } : {}),
    ...(identification !== undefined
      ? { sslEndpointIdentification: booleanText(identification, SECURITY_ENV.sslEndpointIdentification) }
      : {}),
  }
  for (const field of [
    'saslUsername',
    'saslPassword',
    'saslOauthbearerToken',
    'saslOauthbearerTokenFile',
    'saslOauthbearerTokenCommand',
    'sslCaLocation',
    'sslCertificateLocation',
    'sslKeyLocation',
    'sslKeyPassword',
    'sslKeystoreLocation',
    'sslKeystorePassword',
  ] as const) {
    const value = text(field)
    if (value !== undefined) fields[field] = value
  }
  return fields as KafkaSecurity
}

/** Layers merged field by field; earlier layers win. */
export function mergeSecurity(...layers: readonly (KafkaSecurity | undefined)[]): KafkaSecurity {
  const merged: Record<string, unknown> = {}
  for (const layer of [...layers].reverse()) {
    if (!layer) continue
    for (const [key, value] of Object.entries(layer)) if (value !== undefined) merged[key] = value
  }
  return merged as KafkaSecurity
}

function readPem(file: string, what: string): string {
  return readFile(file, what).toString('utf8')
}

function readFile(file: string, what: string): Buffer {
  try {
    return readFileSync(file)
  } catch (error) {
    const reason = error instanceof Error && 'code' in error ? String(error.code) : 'unreadable'
    throw new UsageError(`Cannot read the ${what} ${file} (${reason}).`, error)
  }
}

function require(value: string | undefined, what: string, mechanism: string): string {
  if (value === undefined)
    throw new UsageError(`SASL ${mechanism} needs ${what} (--${what} or ${envOf(what)}).`)
  return value
}

const TOKEN_SOURCES =
  'a token file (--sasl-oauthbearer-token-file or $KAFKA_SASL_OAUTHBEARER_TOKEN_FILE), a token command (--sasl-oauthbearer-token-command or $KAFKA_SASL_OAUTHBEARER_TOKEN_COMMAND) or a token ($KAFKA_SASL_OAUTHBEARER_TOKEN)'

/** Exactly one of the token, its file or its command. */
function tokenSource(security: KafkaSecurity): TokenSource {
  const { saslOauthbearerToken: token, saslOauthbearerTokenFile: file } = security
  const command = security.saslOauthbearerTokenCommand
  const given = [token, file, command].filter((v) => v !== undefined).length
  if (given === 0) throw new UsageError(`SASL OAUTHBEARER needs ${TOKEN_SOURCES}.`)
  if (given > 1) throw new UsageError(`SASL OAUTHBEARER takes one of ${TOKEN_SOURCES}; ${given} were given.`)
  if (file !== undefined) {
    checkTokenFile(file)
    return { kind: 'file', file }
  }
  if (command !== undefined) return { kind: 'command', command }
  return { kind: 'literal', token: token ?? '' }
}

function envOf(flag: string): string {
  return `$KAFKA_${flag.replaceAll('-', '_').toUpperCase()}`
}

function saslOptions(security: KafkaSecurity, protocol: SecurityProtocol): SASLOptions {
  const mechanism = security.saslMechanism
  if (mechanism === undefined) {
    throw new UsageError(
      `security protocol ${protocol} needs a SASL mechanism (--sasl-mechanism ${SASL_MECHANISMS.join('|')}).`,
    )
  }
  if (mechanism === 'OAUTHBEARER') {
    return {
      mechanism,
      token: tokenProvider(tokenSource(security)),
      authBytesValidator: oauthbearerAnswerValidator,
    }
  }
  return {
    mechanism,
    username: require(security.saslUsername, 'sasl-username', mechanism),
    password: require(security.saslPassword, 'sasl-password', mechanism),
  }
}

type TlsOptions = NonNullable<ConnectionOptions['tls']>

function tlsOptions(security: KafkaSecurity): TlsOptions {
  const { sslCertificateLocation: cert, sslKeyLocation: key, sslKeystoreLocation: keystore } = security
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError(
      'A client certificate needs both --ssl-certificate-location and --ssl-key-location (one was given).',
    )
  }
  if (keystore !== undefined && cert !== undefined) {
    throw new UsageError(
      'A client certificate comes either from PEM files (--ssl-certificate-location, --ssl-key-location) or from a PKCS#12 keystore (--ssl-keystore-location), not both.',
    )
  }
  return {
    ...(security.sslCaLocation ? { ca: readPem(security.sslCaLocation, 'CA file') } : {}),
    ...(cert && key ? { cert: readPem(cert, 'client certificate'), key: readPem(key, 'client key') } : {}),
    ...(security.sslKeyPassword ? { passphrase: security.sslKeyPassword } : {}),
    // Node opens a PKCS#12 file itself: the key and certificate chain inside are the client's.
    ...(keystore
      ? {
          pfx: readFile(keystore, 'client keystore'),
          ...(security.sslKeystorePassword ? { passphrase: security.sslKeystorePassword } : {}),
        }
      : {}),
    ...(security.sslEndpointIdentification === false ? { checkServerIdentity: () => undefined } : {}),
  }
}

/**
 * The client's `sasl` and `tls` options for a security setting, checked: a protocol that needs SASL without
 * a mechanism or credentials, SASL or TLS settings under a protocol that does not use them, an unreadable
 * file, all fail with a UsageError that names the flag to fix (and never the secret).
 */
export function clientSecurity(security: KafkaSecurity): Pick<ConnectionOptions, 'sasl' | 'tls'> {
  const set = Object.entries(security)
    .filter(([, v]) => v !== undefined)
    .map(([k]) => k)
  const protocol = security.securityProtocol
  if (protocol === undefined) {
    if (set.length === 0) return {}
    throw new UsageError(
      `Kafka security settings were given (${set.join(', ')}) without a security protocol: set --security-protocol (${SECURITY_PROTOCOLS.join(', ')}).`,
    )
  }
  const usesSasl = protocol.startsWith('SASL_')
  const usesTls = protocol.endsWith('SSL')
  const stray = set.filter((k) => (!usesSasl && k.startsWith('sasl')) || (!usesTls && k.startsWith('ssl')))
  if (stray.length > 0) {
    throw new UsageError(
      `Security protocol ${protocol} does not use ${stray.join(', ')}: choose ${usesTls ? 'SASL_SSL' : usesSasl ? 'SASL_SSL' : 'SSL or SASL_SSL'} or drop them.`,
    )
  }
  return {
    ...(usesSasl ? { sasl: saslOptions(security, protocol) } : {}),
    ...(usesTls ? { tls: tlsOptions(security) } : {}),
  }
}

/** A security setting as it may be shown: secrets replaced by "***". */
export function redactSecurity(security: KafkaSecurity): Record<string, unknown> {
  const shown: Record<string, unknown> = { ...security }
  for (const field of SECRET_FIELDS) if (shown[field] !== undefined) shown[field] = '***'
  return shown
}
