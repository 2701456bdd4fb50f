import { readClientProperties } from '../connectors/kafka/client-properties.ts'
import { overrideSecurity } from '../connectors/kafka/connection.ts'
import {
  type KafkaSecurity,
  mergeSecurity,
  oneOf,
  SASL_MECHANISMS,
  SECURITY_PROTOCOLS,
} from '../connectors/kafka/security.ts'
import { type KafkaSecurityFlags, WORKER_SECURITY_ENV } from './kafka-security-flags.ts'

/** The settings the flags give: the explicit flags over the --kafka-config file. */
export function securityFromFlags(flags: KafkaSecurityFlags): KafkaSecurity {
  const explicit: KafkaSecurity = {
    ...(flags.securityProtocol
      ? { securityProtocol: oneOf(flags.securityProtocol, SECURITY_PROTOCOLS, '--security-protocol') }
      : {}),
    ...(flags.saslMechanism
      ? { saslMechanism: oneOf(flags.saslMechanism, SASL_MECHANISMS, '--sasl-mechanism') }
      : {}),
    ...(flags.saslUsername !== undefined ? { saslUsername: flags.saslUsername } : {}),
    ...(flags.saslPassword !== undefined ? { saslPassword: flags.saslPassword } : {}),
    ...(flags.saslOauthbearerTokenFile !== undefined
      ? { saslOauthbearerTokenFile: flags.saslOauthbearerTokenFile }
      : {}),
    ...(flags.saslOauthbearerTokenCommand !== undefined
      ? { saslOauthbearerTokenCommand: flags.saslOauthbearerTokenCommand }
      : {}),
    ...(flags.sslCaLocation !== undefined ? { sslCaLocation: flags.sslCaLocation } : {}),
    ...(flags.sslCertificateLocation !== undefined
      ? { sslCertificateLocation: flags.sslCertificateLocation }
      : {}),
    ...(flags.sslKeyLocation !== undefined ? { sslKeyLocation: flags.sslKeyLocation } : {}),
    ...(flags.sslKeyPassword !== undefined ? { sslKeyPassword: flags.sslKeyPassword } : {}),
    ...(flags.sslKeystoreLocation !== undefined ? { sslKeystoreLocation: flags.sslKeystoreLocation } : {}),
    ...(flags.sslKeystorePassword !== undefined ? { sslKeystorePassword: flags.sslKeystorePassword } : {}),
    // Commander defaults a --no- flag to true: only the flag itself (false) is a setting.
    ...(flags.sslEndpointIdentification === false ? { sslEndpointIdentification: false } : {}),
  }
  return mergeSecurity(explicit, flags.kafkaConfig ? readClientProperties(flags.kafkaConfig) : undefined)
}

/**
 * Makes the flags win over every Kafka client's own settings in this process; a worker of `sluice run
 * --workers` takes its supervisor's from the environment instead.
 */
export function applySecurityFlags(flags: KafkaSecurityFlags): void {
  const inherited = process.env[WORKER_SECURITY_ENV]
  const security = inherited ? (JSON.parse(inherited) as KafkaSecurity) : securityFromFlags(flags)
  overrideSecurity(Object.keys(security).length > 0 ? security : undefined)
}
