import { readFileSync } from 'node:fs'
import { UsageError } from '../../errors.ts'
import { booleanText, type KafkaSecurity, oneOf, SASL_MECHANISMS, SECURITY_PROTOCOLS } from './security.ts'

/** Java properties: `key=value` or `key: value` lines, `#`/`!` comments, `\` continues a line. */
export function parseProperties(text: string): Map<string, string> {
  const properties = new Map<string, string>()
  const lines = text.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    let line = (lines[i] ?? '').trimStart()
    if (line === '' || line.startsWith('#') || line.startsWith('!')) continue
    while (/(^|[^\\])(\\\\)*\\$/.test(line) && i + 1 < lines.length) {
      line = line.slice(0, -1) + (lines[++i] ?? '').trimStart()
    }
    const match = /^((?:[^\s=:\\]|\\.)+)\s*[=:\s]\s*(.*)$/.exec(line)
    const key = match ? match[1] : line
    properties.set((key ?? '').replace(/\\(.)/g, '$1'), (match?.[2] ?? '').trim())
  }
  return properties
}

const LOGIN_MODULES: Readonly<Record<string, readonly string[]>> = {
  'org.apache.kafka.common.security.plain.PlainLoginModule': ['PLAIN'],
  'org.apache.kafka.common.security.scram.ScramLoginModule': ['SCRAM-SHA-256', 'SCRAM-SHA-512'],
}

/** The user name and password of a `sasl.jaas.config` value for the PLAIN or SCRAM login module. */
export function parseJaasConfig(
  value: string,
  file: string,
): { module: string; username?: string; password?: string } {
  const head = /^\s*([\w.$]+)\s+(required|requisite|sufficient|optional)\b(.*?);?\s*$/s.exec(value)
  if (!head) {
    throw new UsageError(
      `sasl.jaas.config in ${file} is not a JAAS login module line (expected: org.apache.kafka.common.security.scram.ScramLoginModule required username="…" password="…";).`,
    )
  }
  const module = head[1] ?? ''
  if (!(module in LOGIN_MODULES)) {
    throw new UsageError(
      `sasl.jaas.config in ${file} uses ${module}, which Sluice does not support: use PlainLoginModule or ScramLoginModule (for OAUTHBEARER: sasl.oauthbearer.token.file or sasl.oauthbearer.token.command).`,
    )
  }
  const options: Record<string, string> = {}
  for (const m of (head[3] ?? '').matchAll(/([\w.]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;"]+))/g)) {
    options[m[1] ?? ''] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? '')
  }
  return {
    module,
    ...(options.username !== undefined ? { username: options.username } : {}),
    ...(options.password !== undefined ? { password: options.password } : {}),
  }
}

/** Keys Sluice reads; other security keys are refused, the rest (bootstrap.servers, acks, …) ignored. */
export const SUPPORTED_KEYS = [
  'security.protocol',
  'sasl.mechanism',
  'sasl.mechanisms',
  'sasl.jaas.config',
  'sasl.username',
  'sasl.password',
  'sasl.oauthbearer.token',
  'sasl.oauthbearer.token.file',
  'sasl.oauthbearer.token.command',
  'ssl.ca.location',
  'ssl.truststore.type',
  'ssl.truststore.location',
  'ssl.truststore.password',
  'ssl.certificate.location',
  'ssl.key.location',
  'ssl.key.password',
  'ssl.keystore.type',
  'ssl.keystore.location',
  'ssl.keystore.password',
  'ssl.endpoint.identification.algorithm',
] as const

const JKS_HINT: Readonly<Record<'truststore' | 'keystore', string>> = {
  truststore:
    'export the CA as PEM (keytool -exportcert -rfc -alias <ca> -keystore <store> -file ca.pem) and set ssl.ca.location',
  keystore:
    'convert it to PKCS12 (keytool -importkeystore -srckeystore <store> -destkeystore client.p12 -deststoretype PKCS12) and set ssl.keystore.type=PKCS12',
}

/** A store's file and type: PEM for either, PKCS12 for the keystore (Node reads it); JKS is refused with a hint. */
function storeFile(properties: Map<string, string>, kind: 'truststore' | 'keystore', file: string) {
  const location = properties.get(`ssl.${kind}.location`)
  if (location === undefined || location === '') return undefined
  const type = (properties.get(`ssl.${kind}.type`) ?? 'JKS').toUpperCase()
  if (type === 'PEM' || (type === 'PKCS12' && kind === 'keystore')) return { location, type }
  throw new UsageError(`ssl.${kind}.type ${type} in ${file} is not supported: ${JKS_HINT[kind]}.`)
}

/**
 * The security settings of a Kafka client properties file (the file `kafka-console-consumer --command-config`
 * and librdkafka's clients take). Security keys Sluice cannot honour are refused by name rather than ignored,
 * since ignoring one would connect with less protection than the file asks for.
 */
export function securityFromProperties(text: string, file: string): KafkaSecurity {
  const properties = parseProperties(text)
  const unknown = [...properties.keys()].filter(
    (k) => /^(security|sasl|ssl)\./.test(k) && !(SUPPORTED_KEYS as readonly string[]).includes(k),
  )
  if (unknown.length > 0) {
    throw new UsageError(
      `${file}: ${unknown.join(', ')} ${unknown.length > 1 ? 'are' : 'is'} not supported by Sluice's Kafka client (supported: ${SUPPORTED_KEYS.join(', ')}).`,
    )
  }
  const get = (key: string) => {
    const value = properties.get(key)
    return value === undefined || value === '' ? undefined : value
  }
  const protocol = get('security.protocol')
  const mechanism = get('sasl.mechanism') ?? get('sasl.mechanisms')
  const jaas = get('sasl.jaas.config')
  const login = jaas ? parseJaasConfig(jaas, file) : undefined
  const saslMechanism = mechanism ? oneOf(mechanism, SASL_MECHANISMS, `sasl.mechanism in ${file}`) : undefined
  if (login && saslMechanism && !LOGIN_MODULES[login.module]?.includes(saslMechanism)) {
    throw new UsageError(
      `${file}: sasl.mechanism ${saslMechanism} does not go with the login module ${login.module} of sasl.jaas.config.`,
    )
  }
  const keystore = storeFile(properties, 'keystore', file)
  const pemKeystore = keystore?.type === 'PEM' ? keystore.location : undefined
  const pkcs12 = keystore?.type === 'PKCS12' ? keystore.location : undefined
  const ca = get('ssl.ca.location') ?? storeFile(properties, 'truststore', file)?.location
  const cert = get('ssl.certificate.location') ?? pemKeystore
  const key = get('ssl.key.location') ?? pemKeystore
  const keystorePassword = pkcs12 ? get('ssl.keystore.password') : undefined
  const username = get('sasl.username') ?? login?.username
  const password = get('sasl.password') ?? login?.password
  const token = get('sasl.oauthbearer.token')
  const tokenFile = get('sasl.oauthbearer.token.file')
  const tokenCommand = get('sasl.oauthbearer.token.command')
  const keyPassword = get('ssl.key.password')
  const identification = properties.get('ssl.endpoint.identification.algorithm')
  return {
    ...(protocol
      ? { securityProtocol: oneOf(protocol, SECURITY_PROTOCOLS, `security.protocol in ${file}`) }
      : {}),
    ...(saslMechanism ? { saslMechanism } : {}),
    ...(username !== undefined ? { saslUsername: username } : {}),
    ...(password !== undefined ? { saslPassword: password } : {}),
    ...(token !== undefined ? { saslOauthbearerToken: token } : {}),
    ...(tokenFile !== undefined ? { saslOauthbearerTokenFile: tokenFile } : {}),
    ...(tokenCommand !== undefined ? { saslOauthbearerTokenCommand: tokenCommand } : {}),
    ...(ca !== undefined ? { sslCaLocation: ca } : {}),
    ...(cert !== undefined ? { sslCertificateLocation: cert } : {}),
    ...(key !== undefined ? { sslKeyLocation: key } : {}),
    ...(keyPassword !== undefined ? { sslKeyPassword: keyPassword } : {}),
    ...(pkcs12 !== undefined ? { sslKeystoreLocation: pkcs12 } : {}),
    ...(keystorePassword !== undefined ? { sslKeystorePassword: keystorePassword } : {}),
    ...(identification !== undefined
      ? {
          sslEndpointIdentification: booleanText(
            identification,
            `ssl.endpoint.identification.algorithm in ${file}`,
          ),
        }
      : {}),
  }
}

/** Reads and parses a client properties file (--kafka-config, $KAFKA_CONFIG, a YAML file's `security.config`). */
export function readClientProperties(file: string): KafkaSecurity {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    const reason = error instanceof Error && 'code' in error ? String(error.code) : 'unreadable'
    throw new UsageError(`Cannot read the Kafka client properties file ${file} (${reason}).`, error)
  }
  return securityFromProperties(text, file)
}
