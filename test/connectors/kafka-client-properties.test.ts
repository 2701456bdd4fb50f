import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { securityFromProperties } from '../../src/connectors/kafka/client-properties.ts'
import { clientSecurity, redactSecurity } from '../../src/connectors/kafka/security.ts'
import { UsageError } from '../../src/errors.ts'

describe('Kafka client properties files', () => {
  it('reads the Java keys of a SCRAM over TLS client', () => {
    const security = securityFromProperties(
      [
        '# comment',
        'bootstrap.servers=ignored:9092',
        'security.protocol=SASL_SSL',
        'sasl.mechanism=SCRAM-SHA-512',
        'sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\',
        '    username="alice" password="p\\"w;d";',
        'ssl.truststore.type=PEM',
        'ssl.truststore.location=/etc/ca.pem',
        'ssl.endpoint.identification.algorithm=',
      ].join('\n'),
      'client.properties',
    )
    assert.deepEqual(security, {
      securityProtocol: 'SASL_SSL',
      saslMechanism: 'SCRAM-SHA-512',
      saslUsername: 'alice',
      saslPassword: 'p"w;d',
      sslCaLocation: '/etc/ca.pem',
      sslEndpointIdentification: false,
    })
  })

  it('reads the librdkafka keys', () => {
    const security = securityFromProperties(
      'security.protocol=sasl_ssl\nsasl.mechanisms=PLAIN\nsasl.username=bob\nsasl.password=x\nssl.ca.location=ca.pem\n',
      'f',
    )
    assert.equal(security.securityProtocol, 'SASL_SSL')
    assert.equal(security.saslMechanism, 'PLAIN')
    assert.equal(security.saslUsername, 'bob')
  })

  it('reads a PKCS12 keystore (the client certificate for mTLS) and refuses a JKS one with the conversion', () => {
    const security = securityFromProperties(
      'security.protocol=SSL\nssl.keystore.type=PKCS12\nssl.keystore.location=/k/client.p12\nssl.keystore.password=pw\n',
      'f',
    )
    assert.deepEqual(security, {
      securityProtocol: 'SSL',
      sslKeystoreLocation: '/k/client.p12',
      sslKeystorePassword: 'pw',
    })
    assert.throws(
      () => securityFromProperties('ssl.keystore.location=/k/client.jks\n', 'f'),
      (e: unknown) => e instanceof UsageError && /JKS .*keytool -importkeystore/.test(e.message),
    )
  })

  it('refuses security keys it cannot honour, naming them', () => {
    assert.throws(
      () => securityFromProperties('security.protocol=SSL\nssl.cipher.suites=X\n', 'f'),
      (e: unknown) => e instanceof UsageError && e.message.includes('ssl.cipher.suites is not supported'),
    )
    assert.throws(
      () => securityFromProperties('ssl.truststore.location=t.jks\n', 'f'),
      (e: unknown) => e instanceof UsageError && /JKS .*ssl\.ca\.location/.test(e.message),
    )
    assert.throws(
      () =>
        securityFromProperties(
          'sasl.mechanism=PLAIN\nsasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="a" password="b";\n',
          'f',
        ),
      /does not go with the login module/,
    )
  })
})

/** The token function clientSecurity gave the client. */
function providerOf(options: ReturnType<typeof clientSecurity>): () => Promise<string> {
  const token = options.sasl?.token
  assert.equal(typeof token, 'function')
  return token as () => Promise<string>
}

describe('Kafka security settings', () => {
  it('refuses contradictions and missing credentials without showing the secret', () => {
    assert.throws(() => clientSecurity({ saslUsername: 'a' }), /without a security protocol/)
    assert.throws(
      () => clientSecurity({ securityProtocol: 'SSL', saslPassword: 'hunter2' }),
      (e: unknown) =>
        e instanceof UsageError && e.message.includes('saslPassword') && !e.message.includes('hunter2'),
    )
    assert.throws(
      () =>
        clientSecurity({ securityProtocol: 'SASL_SSL', saslMechanism: 'SCRAM-SHA-256', saslUsername: 'a' }),
      /needs sasl-password/,
    )
    assert.deepEqual(
      clientSecurity({
        securityProtocol: 'SASL_PLAINTEXT',
        saslMechanism: 'PLAIN',
        saslUsername: 'a',
        saslPassword: 'b',
      }),
      {
        sasl: { mechanism: 'PLAIN', username: 'a', password: 'b' },
      },
    )
    assert.equal(redactSecurity({ saslPassword: 'hunter2' }).saslPassword, '***')
  })

  it('takes an OAUTHBEARER token from one of a literal, a file read at each authentication, or a command', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-token-'))
    try {
      const file = join(dir, 'token')
      await writeFile(file, 'first\n')
      const oauth = { securityProtocol: 'SASL_PLAINTEXT', saslMechanism: 'OAUTHBEARER' } as const
      const token = clientSecurity({ ...oauth, saslOauthbearerTokenFile: file }).sasl?.token
      assert.equal(typeof token, 'function')
      const provide = token as () => Promise<string>
      assert.equal(await provide(), 'first')
      await writeFile(file, 'renewed\n')
      assert.equal(await provide(), 'renewed', 'read again, not cached')
      const command = clientSecurity({ ...oauth, saslOauthbearerTokenCommand: `cat '${file}'` }).sasl?.token
      assert.equal(await (command as () => Promise<string>)(), 'renewed')
      assert.equal(clientSecurity({ ...oauth, saslOauthbearerToken: 'literal' }).sasl?.token, 'literal')

      assert.throws(() => clientSecurity(oauth), /SASL OAUTHBEARER needs a token file/)
      assert.throws(
        () =>
          clientSecurity({ ...oauth, saslOauthbearerToken: 'secret-token', saslOauthbearerTokenFile: file }),
        (e: unknown) =>
          e instanceof UsageError && /2 were given/.test(e.message) && !e.message.includes('secret-token'),
      )
      assert.throws(
        () => clientSecurity({ ...oauth, saslOauthbearerTokenFile: join(dir, 'missing') }),
        (e: unknown) =>
          e instanceof UsageError &&
          /Cannot read the OAUTHBEARER token file .*missing \(ENOENT\)/.test(e.message),
      )
      await writeFile(file, '  \n')
      await assert.rejects(provide(), /the OAUTHBEARER token file .* is empty/)
      const failing = clientSecurity({
        ...oauth,
        saslOauthbearerTokenCommand: 'echo client-secret >/dev/null; exit 4',
      })
      await assert.rejects(providerOf(failing)(), (e: unknown) => {
        const text = String(e) + String((e as Error).cause ?? '')
        return /token command failed \(exit 4\)/.test(text) && !text.includes('client-secret')
      })
      assert.equal(
        redactSecurity({ saslOauthbearerTokenCommand: 'idp --secret s' }).saslOauthbearerTokenCommand,
        '***',
      )

      const fromFile = securityFromProperties(
        [
          'security.protocol=SASL_SSL',
          'sasl.mechanism=OAUTHBEARER',
          `sasl.oauthbearer.token.file=${file}`,
        ].join('\n'),
        'client.properties',
      )
      assert.deepEqual(fromFile, {
        securityProtocol: 'SASL_SSL',
        saslMechanism: 'OAUTHBEARER',
        saslOauthbearerTokenFile: file,
      })
      assert.deepEqual(
        securityFromProperties('sasl.oauthbearer.token.command=idp token', 'p').saslOauthbearerTokenCommand,
        'idp token',
      )
      assert.throws(
        () => securityFromProperties('sasl.oauthbearer.token.endpoint.url=https://idp/token', 'p'),
        /sasl\.oauthbearer\.token\.endpoint\.url is not supported/,
      )
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
