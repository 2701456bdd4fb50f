import { SECURITY_ENV } from '../connectors/kafka/security.ts'
import { UsageError } from '../errors.ts'
import type { KafkaSecurityFlags } from './kafka-security-flags.ts'

/** Each security flag as typed on the command line. */
const FLAG_NAMES: Readonly<Record<keyof KafkaSecurityFlags, string>> = {
  kafkaConfig: '--kafka-config',
  securityProtocol: '--security-protocol',
  saslMechanism: '--sasl-mechanism',
  saslUsername: '--sasl-username',
  saslPassword: '--sasl-password',
  saslOauthbearerTokenFile: '--sasl-oauthbearer-token-file',
  saslOauthbearerTokenCommand: '--sasl-oauthbearer-token-command',
  sslCaLocation: '--ssl-ca-location',
  sslCertificateLocation: '--ssl-certificate-location',
  sslKeyLocation: '--ssl-key-location',
  sslKeyPassword: '--ssl-key-password',
  sslKeystoreLocation: '--ssl-keystore-location',
  sslKeystorePassword: '--ssl-keystore-password',
  sslEndpointIdentification: '--no-ssl-endpoint-identification',
}

function givenFlags(flags: KafkaSecurityFlags): string[] {
  return (Object.keys(FLAG_NAMES) as (keyof KafkaSecurityFlags)[])
    .filter((name) =>
      // Commander defaults a --no- flag to true: only the flag itself (false) was given.
      name === 'sslEndpointIdentification' ? flags[name] === false : flags[name] !== undefined,
    )
    .map((name) => FLAG_NAMES[name])
}

function givenVariables(env: NodeJS.ProcessEnv): string[] {
  return ['KAFKA_CONFIG', ...Object.values(SECURITY_ENV)]
    .filter((name) => env[name])
    .map((name) => `$${name}`)
}

/**
 * `sluice start` connects to a cluster given with --brokers with that cluster's security settings, and to the
 * local broker it runs with the broker's own (plain, or --secure). Settings meant for another cluster are refused
 * rather than tried on the local broker, where they could only fail after a long wait.
 */
export function checkStartSecurity(
  flags: KafkaSecurityFlags & { readonly secure?: boolean },
  brokers: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): void {
  if (brokers) {
    if (flags.secure) {
      throw new UsageError(
        '--secure secures the local broker; a cluster given with --brokers takes its own settings (--kafka-config FILE, --security-protocol, …).',
      )
    }
    return
  }
  const given = [...givenFlags(flags), ...givenVariables(env)]
  if (given.length === 0) return
  const them = given.length > 1 ? 'them' : 'it'
  const instead = flags.secure
    ? `leave ${them} out (--secure connects with the local broker's own CA and users)`
    : `leave ${them} out, or add --secure for a secured local broker (SASL_SSL with SCRAM, its own CA and users)`
  throw new UsageError(
    `${given.join(', ')} ${given.length > 1 ? 'are' : 'is'} for a cluster given with --brokers or $KAFKA_BROKERS, not for the local broker sluice start runs: ${instead}.`,
  )
}
