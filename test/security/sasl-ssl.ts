import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type CliResult, runCli } from '../helpers/cli.ts'
import type { SecureKafka } from '../helpers/secure-kafka.ts'

/**
 * Against the secured local broker (`sluice kafka start --secure`): SASL_SSL with SCRAM and PLAIN, ACLs enforced.
 * Every command runs as a child process, so its whole output can be searched for the password.
 */
export function saslSslTests(broker: () => SecureKafka): void {
  describe('a secured Kafka (SASL_SSL, StandardAuthorizer)', { timeout: 600_000 }, () => {
    let kafka: SecureKafka
    let dir: string
    const outputs: CliResult[] = []
    // The broker of the global setup is plain: these commands must not fall back to it.
    const noPlainBroker = { KAFKA_BROKERS: '' }

    async function sluice(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
      const result = await runCli(args, { env: { ...noPlainBroker, ...env }, timeoutMs: 180_000 })
      outputs.push(result)
      return result
    }

    before(async () => {
      kafka = broker()
      dir = await mkdtemp(join(tmpdir(), 'sluice-secure-'))
    })

    after(async () => {
      if (dir) await rm(dir, { recursive: true, force: true })
    })

    it('kafka start --secure prints the CA file, the users and a client properties file', () => {
      const { security, startOutput } = kafka
      assert.match(kafka.bootstrap, /^127\.0\.0\.1:\d+$/)
      assert.ok(startOutput.includes(security.caFile), startOutput)
      assert.ok(startOutput.includes(security.clientPropertiesFile), startOutput)
      assert.ok(startOutput.includes(`${security.admin.name} / ${security.admin.password}`), startOutput)
    })

    it('refuses a client without TLS and SASL', async () => {
      const r = await sluice(['listen', '--brokers', kafka.bootstrap, '--topic', 'nothing', '--max', '1'])
      assert.notEqual(r.code, 0, r.stderr)
    })

    it('runs a YAML pipeline with SCRAM-SHA-512 over TLS exactly once, the password in no output', async () => {
      const input = `secure-in-${randomUUID().slice(0, 8)}`
      const output = `secure-out-${randomUUID().slice(0, 8)}`
      const properties = ['--kafka-config', kafka.security.clientPropertiesFile]
      const produced = await sluice([
        'produce',
        '--brokers',
        kafka.bootstrap,
        ...properties,
        '--topic',
        input,
        '--partitions',
        '2',
        '--count',
        '300',
        '--rate',
        'unlimited',
      ])
      assert.equal(produced.code, 0, produced.stderr)

      const file = join(dir, 'secure.yaml')
      await writeFile(
        file,
        [
          'pipeline: secure-etl',
          'security:',
          '  securityProtocol: SASL_SSL',
          '  saslMechanism: SCRAM-SHA-512',
          `  saslUsername: ${kafka.security.admin.name}`,
          `  saslPassword: ${'$'}{SECURE_TEST_PASSWORD}`,
          `  sslCaLocation: ${kafka.security.caFile}`,
          `source: { kafka: { topics: ${input} } }`,
          'steps:',
          '  - filter: "event.event_id != \'\'"',
          `sink: { kafka: { topic: ${output}, createPartitions: 2 } }`,
          '',
        ].join('\n'),
      )
      const password = { SECURE_TEST_PASSWORD: kafka.security.admin.password }
      const checkpoint = join(dir, 'cp')
      const ran = await sluice(
        ['run', file, '--available-now', '--brokers', kafka.bootstrap, '--checkpoint', checkpoint],
        password,
      )
      assert.equal(ran.code, 0, ran.stderr)

      const listened = await sluice([
        'listen',
        '--brokers',
        kafka.bootstrap,
        ...properties,
        '--topic',
        output,
        '--from-beginning',
        '--max',
        '300',
        '--json',
      ])
      assert.equal(listened.code, 0, listened.stderr)
      const ids = listened.stdout
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { value: { event_id: string } }).value.event_id)
      assert.equal(ids.length, 300)
      assert.equal(new Set(ids).size, 300, 'every event once')

      // A second run finds nothing new: the offsets were committed in the transaction.
      const again = await sluice(
        ['run', file, '--available-now', '--brokers', kafka.bootstrap, '--checkpoint', checkpoint],
        password,
      )
      assert.equal(again.code, 0, again.stderr)

      const secret = kafka.security.admin.password
      for (const r of outputs) {
        assert.ok(!r.stdout.includes(secret) && !r.stderr.includes(secret), 'the password is printed')
      }
      for (const name of await readdir(checkpoint, { recursive: true })) {
        const content = await readFile(join(checkpoint, name)).catch(() => Buffer.alloc(0))
        assert.ok(!content.includes(secret), `the password is in the checkpoint file ${name}`)
      }
    })

    it('connects with SCRAM-SHA-256 and PLAIN from flags and environment variables', async () => {
      const topic = `secure-mech-${randomUUID().slice(0, 8)}`
      for (const [i, mechanism] of ['SCRAM-SHA-256', 'PLAIN'].entries()) {
        const r = await sluice(
          [
            'produce',
            '--brokers',
            kafka.bootstrap,
            '--security-protocol',
            'SASL_SSL',
            '--sasl-mechanism',
            mechanism,
            '--ssl-ca-location',
            kafka.security.caFile,
            '--topic',
            topic,
            '--count',
            '5',
            ...(i === 0 ? ['--partitions', '1'] : []),
          ],
          {
            KAFKA_SASL_USERNAME: kafka.security.admin.name,
            KAFKA_SASL_PASSWORD: kafka.security.admin.password,
          },
        )
        assert.equal(r.code, 0, `${mechanism}: ${r.stderr}`)
      }
    })

    it('a wrong password is one clear line and exit 2, not a retry loop', async () => {
      const file = join(dir, 'wrong.yaml')
      await writeFile(
        file,
        [
          'pipeline: secure-wrong',
          'security:',
          `  kafkaConfig: ${kafka.security.clientPropertiesFile}`,
          '  saslPassword: not-the-password',
          `source: { kafka: { topics: anything } }`,
          `sink: { kafka: { topic: anything-out, createPartitions: 1 } }`,
          '',
        ].join('\n'),
      )
      const r = await sluice([
        'run',
        file,
        '--available-now',
        '--brokers',
        kafka.bootstrap,
        '--checkpoint',
        join(dir, 'wrong-cp'),
      ])
      assert.equal(r.code, 2, r.stderr)
      const lines = r.stderr.trim().split('\n')
      assert.equal(lines.length, 1, r.stderr)
      assert.match(lines[0] ?? '', /SASL authentication failed: check the user name, password and mechanism/)
      assert.ok(!r.stderr.includes('not-the-password'))
    })
    it('a user no ACL allows gets one line naming the denial and exit 2, not a retry loop', async () => {
      const { user, caFile } = kafka.security
      const r = await sluice(
        [
          'produce',
          '--brokers',
          kafka.bootstrap,
          '--security-protocol',
          'SASL_SSL',
          '--sasl-mechanism',
          'SCRAM-SHA-512',
          '--sasl-username',
          user.name,
          '--ssl-ca-location',
          caFile,
          '--topic',
          `secure-denied-${randomUUID().slice(0, 8)}`,
          '--count',
          '1',
        ],
        { KAFKA_SASL_PASSWORD: user.password },
      )
      assert.equal(r.code, 2, r.stderr)
      const lines = r.stderr.trim().split('\n')
      assert.equal(lines.length, 1, r.stderr)
      assert.match(lines[0] ?? '', /an ACL denies this user/)
    })
  })
}
