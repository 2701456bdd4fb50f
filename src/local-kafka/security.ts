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
  /**
   * PKCS12 keystore (password `keystorePassword`) with a client key and certificate signed by the CA, for the
   * listener that requires one (mTLS); its principal, `User:CN=sluice-client`, is a super user. Absent in data
   * dirs secured before mTLS was added.
   */
  readonly clientKeystoreFile?: string
  /** Kafka client properties connecting to the mTLS listener with that keystore (security.protocol=SSL). */
  readonly mtlsClientPropertiesFile?: string
}

function secret(): string {
  return randomBytes(18).toString('base64url')
}

/** Distinguished name of the broker certificate: the principal the controller listener sees (mTLS). */
export const BROKER_CERT_DN = 'CN=sluice-local-broker'

/** Distinguished name of the generated client certificate: the principal the mTLS listener sees. */
export const CLIENT_CERT_DN = 'CN=sluice-client'

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
 * A CA, a broker certificate for 127.0.0.1/localhost and a client certificate, signed by it, made with the
 * JDK's keytool (which the broker needs anyway, unlike openssl). The broker and the client get PKCS12
 * keystores; everyone trusts the CA as PEM.
 */
async function createCertificates(dir: string, storePassword: string): Promise<void> {
  const ca = join(dir, 'ca.p12')
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
  await signedKeyPair(dir, 'broker', BROKER_CERT_DN, storePassword, [
    '-ext',
    'SAN=ip:127.0.0.1,dns:localhost',
    '-ext',
    'EKU=serverAuth,clientAuth',
  ])
  await signedKeyPair(dir, 'client', CLIENT_CERT_DN, storePassword, ['-ext', 'EKU=clientAuth'])
}

/**
 * NAME.p12: a key pair whose certificate the CA (ca.p12) signed, with the chain (CA first, so that keytool
 * accepts the signed reply).
 */
async function signedKeyPair(
  dir: string,
  name: string,
  dn: string,
  storePassword: string,
  extensions: readonly string[],
): Promise<void> {
  const keystore = join(dir, `${name}.p12`)
  const common = ['-storetype', 'PKCS12', '-storepass', storePassword, '-keypass', storePassword]
  const csr = join(dir, `${name}.csr`)
  const pem = join(dir, `${name}.pem`)
  await keytool([
    '-genkeypair',
    '-alias',
    name,
    '-dname',
    dn,
    '-validity',
    '3650',
    '-keyalg',
    'RSA',
    '-keysize',
    '2048',
    '-keystore',
    keystore,
    ...common,
  ])
  await keytool(['-certreq', '-alias', name, '-keystore', keystore, ...common, '-file', csr])
  await keytool([
    '-gencert',
    '-rfc',
    '-alias',
    'ca',
    '-keystore',
    join(dir, 'ca.p12'),
    ...common,
    '-infile',
    csr,
    '-outfile',
    pem,
    ...extensions,
    '-validity',
    '3650',
  ])
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
  await keytool(['-importcert', '-alias', name, '-keystore', keystore, ...common, '-file', pem])
  await rm(csr, { force: true })
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

type SecurityFiles = 'clientPropertiesFile' | 'mtlsClientPropertiesFile'

/** Connects to the mTLS listener with the generated client certificate (Java's keys, which Sluice reads too). */
function mtlsClientProperties(security: Omit<LocalKafkaSecurity, SecurityFiles>): string {
  return `${[
    `# Connects to the secured local Kafka's mTLS listener as ${CLIENT_CERT_DN} (a super user).`,
    'security.protocol=SSL',
    'ssl.truststore.type=PEM',
    `ssl.truststore.location=${security.caFile}`,
    'ssl.keystore.type=PKCS12',
    `ssl.keystore.location=${security.clientKeystoreFile}`,
    `ssl.keystore.password=${security.keystorePassword}`,
  ].join('\n')}\n`
}

function clientProperties(security: Omit<LocalKafkaSecurity, SecurityFiles>): string {
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
    clientKeystoreFile: join(dir, 'client.p12'),
  }
  const security: LocalKafkaSecurity = {
    ...base,
    clientPropertiesFile: join(dir, 'client.properties'),
    mtlsClientPropertiesFile: join(dir, 'client-mtls.properties'),
  }
  await writeFile(security.clientPropertiesFile, clientProperties(base), { mode: 0o600 })
  await writeFile(join(dir, 'client-mtls.properties'), mtlsClientProperties(base), { mode: 0o600 })
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
 * certificate principal is a super user, an mTLS listener (SSL, a client certificate required), and the KRaft
 * StandardAuthorizer denying whatever no ACL allows.
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
    // The mTLS listener (SSL): a client is who its certificate says.
    'listener.name.mtls.ssl.client.auth=required',
    'authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer',
    `super.users=User:${admin.name};User:${BROKER_CERT_DN};User:${CLIENT_CERT_DN}`,
    'allow.everyone.if.no.acl.found=false',
  ]
}
