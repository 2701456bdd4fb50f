import { Command, Option } from 'commander'
import { DEFAULT_DATA_DIR } from '../local-kafka/config.ts'
import { port, positiveInt } from './options.ts'

export function kafkaCommand(): Command {
  const kafka = new Command('kafka').description(
    'manage a local Apache Kafka (KRaft) cluster for development and tests',
  )

  kafka
    .command('start')
    .description(
      'start a local broker (or a 3-node cluster), wait until it answers, print its bootstrap address',
    )
    .option('--port <port>', 'first broker port (0 picks a free one)', port, 9092)
    .addOption(new Option('--nodes <n>', 'number of nodes').choices(['1', '3']).default('1'))
    .option('--data-dir <dir>', 'where data, logs and pids live', DEFAULT_DATA_DIR)
    .option('--heap <mb>', 'JVM heap per node in MiB', positiveInt)
    .option(
      '--secure',
      'a SASL_SSL listener (SCRAM-SHA-256/512, PLAIN) with a generated CA, users admin and sluice, and ACLs enforced; prints how to connect',
    )
    .option(
      '--oauth-test-listener',
      "with --secure: also a SASL_PLAINTEXT listener on 127.0.0.1 taking OAUTHBEARER tokens checked by Kafka's UNSECURED validator (unsigned tokens; for tests only)",
    )
    .action(
      async (opts: {
        port: number
        nodes: '1' | '3'
        dataDir: string
        heap?: number
        secure?: boolean
        oauthTestListener?: boolean
      }) => {
        const { startLocalKafka } = await import('../local-kafka/cluster.ts')
        const cluster = await startLocalKafka({
          port: opts.port,
          nodes: opts.nodes === '3' ? 3 : 1,
          dataDir: opts.dataDir,
          ...(opts.heap ? { heapMb: opts.heap } : {}),
          ...(opts.secure ? { secure: true } : {}),
          ...(opts.oauthTestListener ? { oauthTestListener: true } : {}),
          log: (line) => process.stderr.write(`${line}\n`),
        })
        if (!cluster.started) process.stderr.write(`Kafka is already running in ${cluster.dataDir}.\n`)
        else process.stderr.write(`Kafka is up (logs: ${cluster.nodes.map((n) => n.logFile).join(', ')}).\n`)
        if (cluster.security) {
          const { admin, user, caFile, clientPropertiesFile } = cluster.security
          process.stderr.write(
            [
              'Secured: SASL_SSL (SCRAM-SHA-256, SCRAM-SHA-512, PLAIN); ACLs enforced (StandardAuthorizer).',
              `  CA file:     ${caFile}`,
              `  super user:  ${admin.name} / ${admin.password}`,
              `  user:        ${user.name} / ${user.password} (no ACLs until you grant them)`,
              `  client properties (as ${admin.name}, SCRAM-SHA-512): ${clientPropertiesFile}`,
              `  e.g. npx sluice listen --brokers ${cluster.bootstrap} --kafka-config ${clientPropertiesFile} --topic events`,
              ...(cluster.mtlsBootstrap && cluster.security.mtlsClientPropertiesFile
                ? [
                    `mTLS: an SSL listener that requires a client certificate at ${cluster.mtlsBootstrap}; the generated one (CN=sluice-client, a super user) is in ${cluster.security.clientKeystoreFile}`,
                    `  client properties: ${cluster.security.mtlsClientPropertiesFile}`,
                  ]
                : []),
              ...(cluster.oauthBootstrap
                ? [
                    `OAUTHBEARER (TESTS ONLY: unsigned tokens are accepted, sub = the user): SASL_PLAINTEXT at ${cluster.oauthBootstrap}`,
                  ]
                : []),
              '',
            ].join('\n'),
          )
        }
        process.stdout.write(`${cluster.bootstrap}\n`)
      },
    )

  kafka
    .command('stop')
    .description('stop the local cluster cleanly (SIGTERM, then SIGKILL after the grace time)')
    .option('--data-dir <dir>', 'data dir the cluster was started with', DEFAULT_DATA_DIR)
    .option('--grace <seconds>', 'seconds to wait for a clean shutdown', positiveInt, 30)
    .action(async (opts: { dataDir: string; grace: number }) => {
      const { stopLocalKafka } = await import('../local-kafka/cluster.ts')
      const result = await stopLocalKafka({ dataDir: opts.dataDir, graceMs: opts.grace * 1000 })
      if (result.stopped + result.killed === 0)
        process.stderr.write(`No Kafka was running in ${result.dataDir}.\n`)
      else
        process.stderr.write(
          `Stopped ${result.stopped} node(s)${result.killed ? `, killed ${result.killed}` : ''}.\n`,
        )
    })

  kafka
    .command('status')
    .description('show the nodes of the local cluster and whether they run')
    .option('--data-dir <dir>', 'data dir the cluster was started with', DEFAULT_DATA_DIR)
    .action(async (opts: { dataDir: string }) => {
      const { localKafkaStatus } = await import('../local-kafka/cluster.ts')
      const status = await localKafkaStatus({ dataDir: opts.dataDir })
      if (status.nodes.length === 0) {
        process.stdout.write(`No local Kafka in ${status.dataDir}.\n`)
        return
      }
      process.stdout.write(`bootstrap ${status.bootstrap}\n`)
      for (const n of status.nodes) {
        process.stdout.write(
          `node ${n.id}  127.0.0.1:${n.port}  ${n.running ? `running (pid ${n.pid})` : 'stopped'}  ${n.logFile}\n`,
        )
      }
    })
  return kafka
}
