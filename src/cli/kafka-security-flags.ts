import { type Command, InvalidArgumentError, Option } from 'commander'

/** The security flags as commander parses them (names as librdkafka spells its keys). */
export interface KafkaSecurityFlags {
  kafkaConfig?: string
  securityProtocol?: string
  saslMechanism?: string
  saslUsername?: string
  saslPassword?: string
  saslOauthbearerTokenFile?: string
  saslOauthbearerTokenCommand?: string
  sslCaLocation?: string
  sslCertificateLocation?: string
  sslKeyLocation?: string
  sslKeyPassword?: string
  sslKeystoreLocation?: string
  sslKeystorePassword?: string
  sslEndpointIdentification?: boolean
}

/**
 * Set by `sluice run --workers` in each worker's environment (readable by the same user only, unlike argv):
 * the supervisor's security flags, so workers connect as it does.
 */
export const WORKER_SECURITY_ENV = 'SLUICE_KAFKA_SECURITY_FLAGS'

const PROTOCOLS = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL']
const MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512', 'OAUTHBEARER']

function upperChoice(allowed: readonly string[]) {
  return (value: string) => {
    const found = allowed.find((a) => a === value.trim().toUpperCase())
    if (found === undefined) throw new InvalidArgumentError(`expected one of ${allowed.join(', ')}.`)
    return found
  }
}

/** Adds the Kafka security flags to a command and applies them (over the environment) before it runs. */
export function withKafkaSecurity(command: Command): Command {
  return command
    .option(
      '--kafka-config <file>',
      'Kafka client properties (security.protocol, sasl.mechanism, sasl.jaas.config, ssl.ca.location or a PEM ssl.truststore.location, …; default $KAFKA_CONFIG); the flags below win over it',
    )
    .addOption(
      new Option(
        '--security-protocol <protocol>',
        `${PROTOCOLS.join(', ')} (default $KAFKA_SECURITY_PROTOCOL)`,
      ).argParser(upperChoice(PROTOCOLS)),
    )
    .addOption(
      new Option(
        '--sasl-mechanism <mechanism>',
        `${MECHANISMS.join(', ')} (default $KAFKA_SASL_MECHANISM)`,
      ).argParser(upperChoice(MECHANISMS)),
    )
    .option('--sasl-username <user>', 'SASL user (default $KAFKA_SASL_USERNAME)')
    .option(
      '--sasl-password <password>',
      'SASL password (default $KAFKA_SASL_PASSWORD, which other users cannot see in the process list)',
    )
    .option(
      '--sasl-oauthbearer-token-file <file>',
      'OAUTHBEARER: file holding the token, read again at each re-authentication, so a refresher can renew it (default $KAFKA_SASL_OAUTHBEARER_TOKEN_FILE)',
    )
    .option(
      '--sasl-oauthbearer-token-command <command>',
      'OAUTHBEARER: shell command printing the token, run at each (re-)authentication (default $KAFKA_SASL_OAUTHBEARER_TOKEN_COMMAND)',
    )
    .option('--ssl-ca-location <file>', 'PEM CA file to verify the brokers with (default: the system CAs)')
    .option(
      '--ssl-certificate-location <file>',
      'PEM client certificate, for brokers that require one (mTLS)',
    )
    .option('--ssl-key-location <file>', 'PEM key of the client certificate')
    .option('--ssl-key-password <password>', 'password of that key (default $KAFKA_SSL_KEY_PASSWORD)')
    .option(
      '--ssl-keystore-location <file>',
      'PKCS#12 file with the client key and certificate (mTLS), instead of the two PEM files',
    )
    .option(
      '--ssl-keystore-password <password>',
      'password of that keystore (default $KAFKA_SSL_KEYSTORE_PASSWORD)',
    )
    .option(
      '--no-ssl-endpoint-identification',
      "accept a broker certificate that does not name the broker's host (still signed by the CA)",
    )
    .hook('preAction', async (_command, action) => {
      const { applySecurityFlags } = await import('./kafka-security-action.ts')
      applySecurityFlags(action.opts<KafkaSecurityFlags>())
    })
}
