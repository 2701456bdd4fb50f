import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import type { KafkaSecurity } from '../connectors/kafka/security.ts'
import { LocalKafkaError } from '../errors.ts'

const run = promisify(execFile)

/** The SCRAM mechanisms the secured local broker enables; every user gets credentials for both. */
export const LOCAL_SCRAM_MECHANISMS = ['SCRAM-SHA-256', 'SCRAM-SHA-512'] as const

/** A user of the secured local broker. `admin` is the super user; `sluice` starts without any ACL. */
export interface LocalKafkaUser {
  readonly name: string
  readonly password: string
}

/** What a secured local cluster keeps in its data dir: the CA clients trust, the users, the broker's keystore. */
export interface LocalKafkaSecurity {
  /** PEM file of the CA that signed the broker certificate (clients verify the broker with it). */
  readonly caFile: string
  /** PKCS12 keystore with the broker's key and certificate chain. */
  readonly keystoreFile: string
  readonly keystorePassword: string
  /** The super user (also the broker's own identity between listeners). */
  readonly admin: LocalKafkaUser
  /** A user with no ACLs: grant it exactly what a pipeline needs. */
  readonly user: LocalKafkaUser
  /** Kafka client properties (Java keys) connecting as `admin` with SCRAM-SHA-512: for --kafka-config. */
  readonly clientPropertiesFile: string
}

function secret(): string {
  return randomBytes(18).toString('base64url')
}

/** Distinguished name of the broker certificate: the principal the controller listener sees (mTLS). */
export const BROKER_CERT_DN = 'CN=sluice-local-broker'

async function keytool(args: readonly string[]): Promise<void> {
  const java = process.env.JAVA_HOME ? `${process.env.JAVA_HOME}/bin/keytool` : 'keytool'
  try {
    await run(java, args)
  } catch (error) {
    const output = error instanceof Error && 'stderr' in error ? String(error.stderr).trim().slice(-800) : ''
    const missing = error instanceof Error && 'code' in error && error.code === 'ENOENT'
    throw new LocalKafkaError(
      missing
        ? 'keytool (part of the JDK) is needed to create the secured broker certificate: install a JDK or set JAVA_HOME.'
        : `keytool ${args[0]} failed while creating the local CA:\n${output}`,
      error,
    )
  }
}

/**
 * A CA and a broker certificate for 127.0.0.1/localhost, signed by it, made with the JDK's keytool (which
 * the broker needs anyway, unlike openssl). The broker gets a PKCS12 keystore and truststore; clients get
 * the CA as PEM.
 */
async function createCertificates(dir: string, storePassword: string): Promise<void> {
  const ca = join(dir, 'ca.p12')
  const keystore = join(dir, 'broker.p12')
  const common = ['-storetype', 'PKCS12', '-storepass', storePassword, '-keypass', storePassword]
  const validity = ['-validity', '3650', '-keyalg', 'RSA', '-keysize', '2048']
  await keytool([
    '-genkeypair',
    '-alias',
    'ca',
    '-dname',
    'CN=Sluice local Kafka CA',
    '-ext',
    'bc:c',
    ...validity,
    '-keystore',
    ca,
    ...common,
  ])
  await keytool([
    '-exportcert',
    '-rfc',
    '-alias',
    'ca',
    '-keystore',
    ca,
    ...common,
    '-file',
    join(dir, 'ca.pem'),
  ])
  await keytool([
    '-genkeypair',
    '-alias',
    'broker',
    '-dname',
    BROKER_CERT_DN,
    ...validity,
    '-keystore',
    keystore,
    ...common,
  ])
  await keytool([
    '-certreq',
    '-alias',
    'broker',
    '-keystore',
    keystore,
    ...common,
    '-file',
    join(dir, 'broker.csr'),
  ])
  await keytool([
    '-gencert',
    '-rfc',
    '-alias',
    'ca',
    '-keystore',
    ca,
    ...common,
    '-infile',
    join(dir, 'broker.csr'),
    '-outfile',
    join(dir, 'broker.pem'),
    '-ext',
    'SAN=ip:127.0.0.1,dns:localhost',
    '-ext',
    'EKU=serverAuth,clientAuth',
    '-validity',
    '3650',
  ])
  // The chain (CA first) goes into the broker's keystore so the certificate reply is accepted.
  await keytool([
    '-importcert',
    '-noprompt',
    '-alias',
    'ca',
    '-keystore',
    keystore,
    ...common,
    '-file',
    join(dir, 'ca.pem'),
  ])
  await keytool([
    '-importcert',
    '-alias',
    'broker',
    '-keystore',
    keystore,
    ...common,
    '-file',
    join(dir, 'broker.pem'),
  ])
  await rm(join(dir, 'broker.csr'), { force: true })
}

/** How a client connects to the secured local broker as its super user: SCRAM-SHA-512 over TLS. */
export function localClientSecurity(security: LocalKafkaSecurity): KafkaSecurity {
  return {
    securityProtocol: 'SASL_SSL',
    saslMechanism: 'SCRAM-SHA-512',
    saslUsername: security.admin.name,
    saslPassword: security.admin.password,
    sslCaLocation: security.caFile,
  }
}

function clientProperties(security: Omit<LocalKafkaSecurity, 'clientPropertiesFile'>): string {
  return `${[
    '# Connects to the secured local Kafka as its super user (made by sluice kafka start --secure).',
    'security.protocol=SASL_SSL',
    'sasl.mechanism=SCRAM-SHA-512',
    `sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${security.admin.name}" password="${security.admin.password}";`,
    'ssl.truststore.type=PEM',
    `ssl.truststore.location=${security.caFile}`,
  ].join('\n')}\n`
}

/**
 * The security material of a secured local cluster: created on first start (CA, broker keystore, random
 * passwords), read back on later starts so clients keep working. Files holding secrets are readable by
 * their owner only.
 */
export async function localKafkaSecurity(dataDir: string): Promise<LocalKafkaSecurity> {
  const dir = join(dataDir, 'security')
  const file = join(dir, 'security.json')
  if (existsSync(file)) return JSON.parse(await readFile(file, 'utf8')) as LocalKafkaSecurity
  await rm(dir, { recursive: true, force: true })
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const keystorePassword = secret()
  await createCertificates(dir, keystorePassword)
  const base = {
    caFile: join(dir, 'ca.pem'),
    keystoreFile: join(dir, 'broker.p12'),
    keystorePassword,
    admin: { name: 'admin', password: secret() },
    user: { name: 'sluice', password: secret() },
  }
  const security: LocalKafkaSecurity = { ...base, clientPropertiesFile: join(dir, 'client.properties') }
  await writeFile(security.clientPropertiesFile, clientProperties(base), { mode: 0o600 })
  await writeFile(`${file}.tmp`, `${JSON.stringify(security, null, 2)}\n`, { mode: 0o600 })
  await chmod(dirname(file), 0o700)
  await rename(`${file}.tmp`, file)
  return security
}

/** `kafka-storage format --add-scram` arguments: both SCRAM mechanisms for every user. */
export function scramFormatArgs(security: LocalKafkaSecurity): string[] {
  const args: string[] = []
  for (const user of [security.admin, security.user]) {
    for (const mechanism of LOCAL_SCRAM_MECHANISMS) {
      args.push('--add-scram', `${mechanism}=[name=${user.name},password=${user.password}]`)
    }
  }
  return args
}

function jaasQuote(value: string): string {
  return `"${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`
}

/**
 * The server.properties lines of a secured node: a SASL_SSL listener for clients and between brokers
 * (SCRAM-SHA-256/512 from the metadata log, PLAIN from a static JAAS list), an mTLS controller listener whose
 * certificate principal is a super user, and the KRaft StandardAuthorizer denying whatever no ACL allows.
 */
export function secureServerLines(security: LocalKafkaSecurity): string[] {
  const { admin, user } = security
  const scramJaas = `org.apache.kafka.common.security.scram.ScramLoginModule required username=${jaasQuote(admin.name)} password=${jaasQuote(admin.password)};`
  const plainJaas = `org.apache.kafka.common.security.plain.PlainLoginModule required username=${jaasQuote(admin.name)} password=${jaasQuote(admin.password)} user_${admin.name}=${jaasQuote(admin.password)} user_${user.name}=${jaasQuote(user.password)};`
  const store = [
    'ssl.keystore.type=PKCS12',
    `ssl.keystore.location=${security.keystoreFile}`,
    `ssl.keystore.password=${security.keystorePassword}`,
    `ssl.key.password=${security.keystorePassword}`,
    'ssl.truststore.type=PEM',
    `ssl.truststore.location=${security.caFile}`,
  ]
  return [
    ...store,
    'sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN',
    'sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512',
    `listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=${scramJaas}`,
    `listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=${scramJaas}`,
    `listener.name.sasl_ssl.plain.sasl.jaas.config=${plainJaas}`,
    // The controller listener takes only clients presenting a certificate from our CA: the broker itself.
    'listener.name.controller.ssl.client.auth=required',
    'authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer',
    `super.users=User:${admin.name};User:${BROKER_CERT_DN}`,
    'allow.everyone.if.no.acl.found=false',
  ]
}
