import { OAUTH_TEST_LISTENER_LINES } from './oauth-listener.ts'
import { type LocalKafkaSecurity, secureServerLines } from './security.ts'

/** One node of a local KRaft cluster: every node is both broker and controller. */
export interface LocalNode {
  readonly id: number
  readonly port: number
  readonly controllerPort: number
  /** A secured node's SSL listener that requires a client certificate (mTLS); absent on data dirs made before it. */
  readonly mtlsPort?: number
  /**
   * A SASL_PLAINTEXT listener on loopback taking OAUTHBEARER tokens checked by Kafka's unsecured validator (for
   * tests only: anyone can make such a token); only with `oauthTestListener`.
   */
  readonly oauthPort?: number
  readonly dir: string
}

/**
 * server.properties for one combined broker+controller node. Everything binds to 127.0.0.1 ("localhost" may
 * resolve to ::1 while the socket is IPv4-only). Internal topics get a replication factor the cluster can
 * actually hold, otherwise consumer groups and transactions never find a coordinator on one node.
 */
export function serverProperties(
  node: LocalNode,
  all: readonly LocalNode[],
  security?: LocalKafkaSecurity,
): string {
  const client = security ? 'SASL_SSL' : 'PLAINTEXT'
  const controller = security ? 'SSL' : 'PLAINTEXT'
  const replicas = Math.min(3, all.length)
  const minIsr = replicas === 1 ? 1 : 2
  const voters = all.map((n) => `${n.id}@127.0.0.1:${n.controllerPort}`).join(',')
  const mtls = security && node.mtlsPort !== undefined ? `,MTLS://127.0.0.1:${node.mtlsPort}` : ''
  const oauth = security && node.oauthPort !== undefined ? `,OAUTH://127.0.0.1:${node.oauthPort}` : ''
  return `${[
    'process.roles=broker,controller',
    `node.id=${node.id}`,
    `controller.quorum.voters=${voters}`,
    `listeners=${client}://127.0.0.1:${node.port},CONTROLLER://127.0.0.1:${node.controllerPort}${mtls}${oauth}`,
    `advertised.listeners=${client}://127.0.0.1:${node.port},CONTROLLER://127.0.0.1:${node.controllerPort}${mtls}${oauth}`,
    'controller.listener.names=CONTROLLER',
    `inter.broker.listener.name=${client}`,
    `listener.security.protocol.map=CONTROLLER:${controller},${client}:${client}${mtls ? ',MTLS:SSL' : ''}${oauth ? ',OAUTH:SASL_PLAINTEXT' : ''}`,
    `log.dirs=${node.dir}/data`,
    `offsets.topic.replication.factor=${replicas}`,
    `offsets.topic.num.partitions=${replicas === 1 ? 1 : 3}`,
    `transaction.state.log.replication.factor=${replicas}`,
    `transaction.state.log.min.isr=${minIsr}`,
    `transaction.state.log.num.partitions=${replicas === 1 ? 1 : 3}`,
    `share.coordinator.state.topic.replication.factor=${replicas}`,
    `share.coordinator.state.topic.min.isr=${minIsr}`,
    `default.replication.factor=${replicas}`,
    `min.insync.replicas=${minIsr}`,
    'num.partitions=1',
    // Topics are created explicitly (with the partition count the user asked for); a typo must not make one.
    'auto.create.topics.enable=false',
    'group.initial.rebalance.delay.ms=0',
    // Faster KIP-848 membership changes for local use; the defaults are tuned for production clusters.
    'group.consumer.min.session.timeout.ms=6000',
    'group.consumer.session.timeout.ms=10000',
    'group.consumer.min.heartbeat.interval.ms=500',
    'group.consumer.heartbeat.interval.ms=1000',
    'num.network.threads=2',
    'num.io.threads=4',
    'num.recovery.threads.per.data.dir=1',
    // The log cleaner allocates this eagerly on the heap; the default 128 MiB is a quarter of our heap.
    'log.cleaner.dedupe.buffer.size=16777216',
    'transaction.max.timeout.ms=900000',
    ...(security ? secureServerLines(security) : []),
    ...(oauth ? OAUTH_TEST_LISTENER_LINES : []),
  ].join('\n')}\n`
}

/** log4j2 configuration: INFO to the node's log file (stdout is redirected there). */
/** Where `sluice kafka start` keeps data, logs, pids and configs unless told otherwise. */
export const DEFAULT_DATA_DIR = 'data/kafka'

export const BROKER_LOG4J = `status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.target = SYSTEM_OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
`

/** log4j2 configuration for the storage tool: warnings only, on stderr. */
export const TOOL_LOG4J = `status = warn
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = STDERR
`
