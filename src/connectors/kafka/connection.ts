import type { ConnectionOptions, SASLOptions } from '@platformatic/kafka'
import { UsageError } from '../../errors.ts'

/** TLS options are Node's own `tls.connect` options, passed through untouched. */
export type KafkaTlsOptions = NonNullable<ConnectionOptions['tls']>
export type KafkaSaslOptions = SASLOptions

/** How to reach a Kafka cluster. The one shape every Sluice component that talks to Kafka accepts. */
export interface KafkaConnection {
  /** "host:port" list; defaults to $KAFKA_BROKERS, then 127.0.0.1:9092. */
  readonly brokers?: readonly string[] | string
  readonly clientId?: string
  readonly sasl?: KafkaSaslOptions
  readonly tls?: KafkaTlsOptions
  readonly connectTimeout?: number
  readonly requestTimeout?: number
}

export const DEFAULT_BROKERS = '127.0.0.1:9092'

/** Broker list from the option, the KAFKA_BROKERS environment variable, or the local default, validated. */
export function resolveBrokers(brokers?: readonly string[] | string): string[] {
  const raw = brokers ?? process.env.KAFKA_BROKERS ?? DEFAULT_BROKERS
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

/** The options common to the client's Producer, Consumer and Admin. */
export function baseClientOptions(connection: KafkaConnection, role: string) {
  return {
    clientId: connection.clientId ?? `sluice-${role}`,
    bootstrapBrokers: resolveBrokers(connection.brokers),
    connectTimeout: connection.connectTimeout ?? 5_000,
    requestTimeout: connection.requestTimeout ?? 30_000,
    ...(connection.sasl ? { sasl: connection.sasl } : {}),
    ...(connection.tls ? { tls: connection.tls } : {}),
  }
}
