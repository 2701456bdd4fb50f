import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { before, describe, it } from 'node:test'
import { type CliResult, runCli } from '../helpers/cli.ts'
import type { SecureKafka } from '../helpers/secure-kafka.ts'

/** The secured local broker's SSL listener that requires a client certificate (ssl.client.auth=required). */
export function mtlsTests(broker: () => SecureKafka): void {
  describe('mTLS: a client certificate from a properties file, flags or PEM files', {
    timeout: 600_000,
  }, () => {
    let kafka: SecureKafka
    const topic = `mtls-${randomUUID().slice(0, 8)}`
    // The broker of the global setup is plain: these commands must not fall back to it.
    const env = { KAFKA_BROKERS: '' }
    const outputs: CliResult[] = []

    async function sluice(args: readonly string[], extra: NodeJS.ProcessEnv = {}): Promise<CliResult> {
      const result = await runCli(args, { env: { ...env, ...extra }, timeoutMs: 120_000 })
      outputs.push(result)
      return result
    }

    before(async () => {
      kafka = broker()
    })
    it('kafka start --secure prints the mTLS listener and its client properties', () => {
      assert.ok(
        kafka.startOutput.includes(
          `mTLS: an SSL listener that requires a client certificate at ${kafka.mtlsBootstrap}`,
        ),
      )
      assert.ok(
        kafka.security.mtlsClientPropertiesFile &&
          kafka.startOutput.includes(kafka.security.mtlsClientPropertiesFile),
      )
    })

    it('with the PKCS#12 keystore of a properties file (ssl.keystore.*), produce works', async () => {
      const r = await sluice([
        'produce',
        '--brokers',
        kafka.mtlsBootstrap,
        '--kafka-config',
        kafka.security.mtlsClientPropertiesFile ?? '',
        '--topic',
        topic,
        '--partitions',
        '1',
        '--count',
        '20',
      ])
      assert.equal(r.code, 0, r.stderr)
    })

    it('with --ssl-keystore-location and $KAFKA_SSL_KEYSTORE_PASSWORD, listen reads them', async () => {
      const r = await sluice(
        [
          'listen',
          '--brokers',
          kafka.mtlsBootstrap,
          '--security-protocol',
          'SSL',
          '--ssl-ca-location',
          kafka.security.caFile,
          '--ssl-keystore-location',
          kafka.security.clientKeystoreFile ?? '',
          '--topic',
          topic,
          '--from-beginning',
          '--max',
          '20',
          '--json',
        ],
        { KAFKA_SSL_KEYSTORE_PASSWORD: kafka.security.keystorePassword },
      )
      assert.equal(r.code, 0, r.stderr)
      assert.equal(r.stdout.trim().split('\n').length, 20, r.stdout)
    })

    it('with PEM files (--ssl-certificate-location, --ssl-key-location), listen reads them', async () => {
      const dir = join(kafka.dataDir, 'security')
      // The key out of the PKCS#12 keystore as PEM, as a user with a PEM pair would have it.
      const key = join(dir, 'client-key.pem')
      execFileSync(
        'openssl',
        ['pkcs12', '-in', join(dir, 'client.p12'), '-nocerts', '-nodes', '-passin', 'env:PW', '-out', key],
        {
          env: { ...process.env, PW: kafka.security.keystorePassword },
        },
      )
      const r = await sluice([
        'listen',
        '--brokers',
        kafka.mtlsBootstrap,
        '--security-protocol',
        'SSL',
        '--ssl-ca-location',
        kafka.security.caFile,
        '--ssl-certificate-location',
        join(dir, 'client.pem'),
        '--ssl-key-location',
        key,
        '--topic',
        topic,
        '--from-beginning',
        '--max',
        '20',
      ])
      assert.equal(r.code, 0, r.stderr)
    })

    it('without a client certificate: one line saying the broker requires one, exit 2', async () => {
      const r = await sluice([
        'produce',
        '--brokers',
        kafka.mtlsBootstrap,
        '--security-protocol',
        'SSL',
        '--ssl-ca-location',
        kafka.security.caFile,
        '--topic',
        topic,
        '--count',
        '1',
      ])
      assert.equal(r.code, 2, r.stderr)
      const lines = r.stderr.trim().split('\n')
      assert.equal(lines.length, 1, r.stderr)
      assert.match(lines[0] ?? '', /requires a client certificate/)
    })

    it('no output shows the keystore password', () => {
      for (const r of outputs) {
        assert.ok(!r.stdout.includes(kafka.security.keystorePassword), r.stdout)
        assert.ok(!r.stderr.includes(kafka.security.keystorePassword), r.stderr)
      }
    })
  })
}
