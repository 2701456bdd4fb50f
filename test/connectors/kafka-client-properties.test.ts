import assert from 'node:assert/strict'
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
})
