import type { ConnectionOptions, SASLOptions } from '@platformatic/kafka'
import { UsageError } from '../../errors.ts'
import { readClientProperties } from './client-properties.ts'
import { clientSecurity, type KafkaSecurity, mergeSecurity, securityFromEnv } from './security.ts'

/** TLS options are Node's own `tls.connect` options, passed through untouched. */
export type KafkaTlsOptions = NonNullable<ConnectionOptions['tls']>
export type KafkaSaslOptions = SASLOptions

/** How to reach a Kafka cluster. The one shape every Sluice component that talks to Kafka accepts. */
export interface KafkaConnection {
  /** "host:port" list; defaults to $KAFKA_BROKERS, then 127.0.0.1:9092. */
  readonly brokers?: readonly string[] | string
  readonly clientId?: string
  /**
   * SASL and TLS in Kafka's terms; fields not set here come from $KAFKA_CONFIG and the KAFKA_SECURITY_PROTOCOL,
   * KAFKA_SASL_* and KAFKA_SSL_* variables. CLI flags (overrideSecurity) win over it.
   */
  readonly security?: KafkaSecurity
  /** The client's own SASL options, used as given (they win over `security`). */
  readonly sasl?: KafkaSaslOptions
  /** Node's `tls.connect` options, used as given (they win over `security`). */
  readonly tls?: KafkaTlsOptions
  readonly connectTimeout?: number
  readonly requestTimeout?: number
}

export const DEFAULT_BROKERS = '127.0.0.1:9092'

let brokersOverride: readonly string[] | string | undefined
let securityOverride: KafkaSecurity | undefined

/**
 * Makes every Kafka client this process creates from now on connect to `brokers`, whatever its own options say
 * (undefined lifts it). For `sluice run --brokers`: a TypeScript pipeline's connectors are built by the module
 * with its own choice (often none, meaning $KAFKA_BROKERS), and the flag must win over it as it wins over a
 * YAML file's `brokers`.
 */
export function overrideBrokers(brokers: readonly string[] | string | undefined): void {
  if (brokers !== undefined) resolveBrokers(brokers) // validated now: a bad list is a usage error at once
  brokersOverride = brokers
}

/** Broker list from the override, the option, $KAFKA_BROKERS, or the local default, validated. */
export function resolveBrokers(brokers?: readonly string[] | string): string[] {
  const raw = brokersOverride ?? brokers ?? process.env.KAFKA_BROKERS ?? DEFAULT_BROKERS
  const list = (typeof raw === 'string' ? raw.split(',') : [...raw]).map((b) => b.trim()).filter(Boolean)
  if (list.length === 0)
    throw new UsageError('No Kafka brokers given: pass --brokers host:port or set KAFKA_BROKERS.')
  for (const broker of list) {
    const match = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(broker)
    const port = match ? Number(match[2]) : Number.NaN
    if (!match || !(port > 0 && port < 65536)) {
      throw new UsageError(
        `Invalid Kafka broker address "${broker}": expected host:port, for example 127.0.0.1:9092.`,
      )
    }
  }
  return list
}

/**
 * Makes every Kafka client this process creates from now on use these security settings over its own (field by
 * field; undefined lifts it): the CLI's --security-protocol, --sasl-* and --ssl-* flags and --kafka-config.
 * Checked now, so a contradiction or an unreadable file is a usage error before anything starts.
 */
export function overrideSecurity(security: KafkaSecurity | undefined): void {
  securityOverride = security
  if (security !== undefined) resolveSecurity({})
}

/** The settings overrideSecurity set (for handing them to worker processes). */
export function securityOverridden(): KafkaSecurity | undefined {
  return securityOverride
}

/** The security settings in force for a connection: the override, then its own, then $KAFKA_CONFIG and KAFKA_*. */
export function resolveSecurity(connection: KafkaConnection): KafkaSecurity {
  const file = process.env.KAFKA_CONFIG
  return mergeSecurity(
    securityOverride,
    connection.security,
    securityFromEnv(),
    file ? readClientProperties(file) : undefined,
  )
}

/** The options common to the client's Producer, Consumer and Admin: the one place their connection is built. */
export function baseClientOptions(connection: KafkaConnection, role: string) {
  const secured = clientSecurity(resolveSecurity(connection))
  const sasl = connection.sasl ?? secured.sasl
  const tls = connection.tls ?? secured.tls
  return {
    clientId: connection.clientId ?? `sluice-${role}`,
    bootstrapBrokers: resolveBrokers(connection.brokers),
    connectTimeout: connection.connectTimeout ?? 5_000,
    requestTimeout: connection.requestTimeout ?? 30_000,
    ...(sasl ? { sasl } : {}),
    ...(tls ? { tls } : {}),
  }
}
