import { execFile, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, openSync, readFileSync } from 'node:fs'
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { KafkaAdmin } from '../connectors/kafka/admin.ts'
import { LocalKafkaError, UsageError } from '../errors.ts'
import { classArchiveFlags, classArchiveUseFlags, settleClassArchive } from './class-archive.ts'
import { brokerClasspath } from './classpath.ts'
import { BROKER_LOG4J, DEFAULT_DATA_DIR, type LocalNode, serverProperties, TOOL_LOG4J } from './config.ts'

export { DEFAULT_DATA_DIR }

import { ownerAlive } from './owner.ts'
import { consecutiveFreePorts, freePort } from './ports.ts'
import { isOurProcess, sleep, terminate } from './process.ts'
import { type LocalKafkaSecurity, localKafkaSecurity, scramFormatArgs } from './security.ts'
import { findJava } from './tools.ts'

const run = promisify(execFile)

export interface StartLocalKafkaOptions {
  /** First broker port; 0 picks free ports. Default 9092. */
  readonly port?: number
  readonly nodes?: 1 | 3
  /** Where data, logs, pids and configs live. Default ./data/kafka. */
  readonly dataDir?: string
  readonly heapMb?: number
  /**
   * A SASL_SSL listener (SCRAM-SHA-256/512 and PLAIN, a CA and broker certificate made here) and the KRaft
   * StandardAuthorizer instead of the plain listener. A property of the data dir: kept on later starts.
   */
  readonly secure?: boolean
  /**
   * With `secure`, on a new data dir: also an OAUTHBEARER listener with Kafka's unsecured token validator, for
   * tests only (see oauth-listener.ts). A property of the data dir.
   */
  readonly oauthTestListener?: boolean
  readonly readyTimeoutMs?: number
  readonly log?: (line: string) => void
  /**
   * The cluster belongs to this process's run, which stops it when it ends (`sluice start`): a cluster it starts
   * records this process as its owner, and a running one whose owner is gone (killed) is taken over.
   */
  readonly own?: boolean
}

export interface LocalKafkaNode extends LocalNode {
  readonly pid: number | null
  readonly logFile: string
}

export interface LocalKafka {
  readonly bootstrap: string
  readonly dataDir: string
  readonly clusterId: string
  readonly nodes: readonly LocalKafkaNode[]
  /** False when start() found the cluster already running. */
  readonly started: boolean
  /** With `own`: the pid of the gone owner whose running cluster this process took over. */
  readonly takenOverFrom?: number
  /** How to connect to a secured cluster; undefined for the plain one. */
  readonly security: LocalKafkaSecurity | undefined
  /** A secured cluster's SSL listeners that require a client certificate (mTLS), as a bootstrap list. */
  readonly mtlsBootstrap?: string
  /** The OAUTHBEARER test listeners (SASL_PLAINTEXT, unsecured tokens), when the data dir has them. */
  readonly oauthBootstrap?: string
}

interface ClusterFile {
  readonly version: 1
  readonly clusterId: string
  readonly secure?: boolean
  /** The pid of the process whose run the cluster belongs to (see owner.ts); absent for a standing cluster. */
  readonly owner?: number
  readonly nodes: readonly LocalKafkaNode[]
}

const STATE_FILE = 'cluster.json'
const MAIN_CLASS = 'kafka.Kafka'

function stateFile(dataDir: string): string {
  return join(dataDir, STATE_FILE)
}

async function readState(dataDir: string): Promise<ClusterFile | undefined> {
  const file = stateFile(dataDir)
  if (!existsSync(file)) return undefined
  const parsed = JSON.parse(await readFile(file, 'utf8')) as ClusterFile
  if (parsed.version !== 1) throw new LocalKafkaError(`Unknown cluster file version in ${file}.`)
  return parsed
}

async function writeState(dataDir: string, state: ClusterFile): Promise<void> {
  const file = stateFile(dataDir)
  await writeFile(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`)
  await rename(`${file}.tmp`, file)
}

function bootstrapOf(nodes: readonly LocalNode[]): string {
  return nodes.map((n) => `127.0.0.1:${n.port}`).join(',')
}

function mtlsBootstrapOf(nodes: readonly LocalNode[]): { mtlsBootstrap?: string; oauthBootstrap?: string } {
  const list = (ports: readonly (number | undefined)[]) =>
    ports.every((p) => p === undefined) ? undefined : ports.map((p) => `127.0.0.1:${p}`).join(',')
  const mtls = list(nodes.map((n) => n.mtlsPort))
  const oauth = list(nodes.map((n) => n.oauthPort))
  return { ...(mtls ? { mtlsBootstrap: mtls } : {}), ...(oauth ? { oauthBootstrap: oauth } : {}) }
}

function running(node: LocalKafkaNode): boolean {
  return node.pid !== null && isOurProcess(node.pid, node.dir)
}

/** A Kafka cluster id: 16 random bytes in URL-safe base64 (22 characters), never starting with '-'. */
function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url')
    if (!id.startsWith('-')) return id
  }
}

async function planNodes(
  dataDir: string,
  count: number,
  firstPort: number,
  secure: boolean,
  oauth: boolean,
): Promise<LocalNode[]> {
  const brokerPorts = await consecutiveFreePorts(count, firstPort === 0 ? undefined : firstPort)
  if (!brokerPorts) {
    const wanted =
      firstPort === 0
        ? `${count} consecutive ports`
        : `port ${firstPort}${count > 1 ? `-${firstPort + count - 1}` : ''}`
    throw new UsageError(
      `Cannot start the local Kafka: ${wanted} on 127.0.0.1 is in use; pass --port with a free one.`,
    )
  }
  const nodes: LocalNode[] = []
  for (const [i, port] of brokerPorts.entries()) {
    nodes.push({
      id: i + 1,
      port,
      controllerPort: await freePort(),
      ...(secure ? { mtlsPort: await freePort() } : {}),
      ...(secure && oauth ? { oauthPort: await freePort() } : {}),
      dir: join(dataDir, `node-${i + 1}`),
    })
  }
  return nodes
}

async function formatNode(
  java: { path: string; versionText: string },
  classpath: string,
  node: LocalNode,
  clusterId: string,
  security: LocalKafkaSecurity | undefined,
): Promise<void> {
  const args = [
    '-Xmx256m',
    ...classArchiveUseFlags(java, classpath),
    `-Dlog4j2.configurationFile=${join(node.dir, 'tools-log4j2.properties')}`,
    '-cp',
    classpath,
    'kafka.tools.StorageTool',
    'format',
    '-t',
    clusterId,
    '-c',
    join(node.dir, 'server.properties'),
    '--ignore-formatted',
    ...(security ? scramFormatArgs(security) : []),
  ]
  try {
    await run(java.path, args, { maxBuffer: 4 * 1024 * 1024 })
  } catch (error) {
    const stderr = error instanceof Error && 'stderr' in error ? String(error.stderr).trim().slice(-1500) : ''
    throw new LocalKafkaError(`Formatting Kafka storage in ${node.dir} failed:\n${stderr}`, error)
  }
}

async function launchNode(
  java: { path: string; versionText: string },
  classpath: string,
  node: LocalNode,
  heapMb: number,
): Promise<{ pid: number; logFile: string }> {
  const logFile = join(node.dir, 'broker.log')
  const archive = await classArchiveFlags(java, classpath, node.dir)
  const out = openSync(logFile, 'a')
  const child = spawn(
    java.path,
    [
      `-Xms${Math.min(128, heapMb)}m`,
      `-Xmx${heapMb}m`,
      '-XX:+UseG1GC',
      '-XX:MaxGCPauseMillis=20',
      '-XX:InitiatingHeapOccupancyPercent=35',
      '-XX:+ExplicitGCInvokesConcurrent',
      ...archive,
      '-Djava.awt.headless=true',
      `-Dkafka.logs.dir=${join(node.dir, 'logs')}`,
      `-Dlog4j2.configurationFile=${join(node.dir, 'log4j2.properties')}`,
      // Marks the process as this node's, so stop never signals a recycled pid.
      `-Dsluice.node.dir=${node.dir}`,
      '-cp',
      classpath,
      MAIN_CLASS,
      join(node.dir, 'server.properties'),
    ],
    { detached: true, stdio: ['ignore', out, out] },
  )
  if (child.pid === undefined)
    throw new LocalKafkaError(`Could not launch ${java.path} for Kafka node ${node.id}.`)
  child.unref()
  return { pid: child.pid, logFile }
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}

/** Connection options of the super user of a secured local cluster (SCRAM-SHA-512 over TLS). */
export function localAdminConnection(security: LocalKafkaSecurity) {
  return {
    sasl: {
      mechanism: 'SCRAM-SHA-512' as const,
      username: security.admin.name,
      password: security.admin.password,
    },
    tls: { ca: readFileSync(security.caFile, 'utf8') },
  }
}

async function waitUntilReady(
  nodes: readonly LocalKafkaNode[],
  timeoutMs: number,
  security: LocalKafkaSecurity | undefined,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  const admin = new KafkaAdmin({
    brokers: bootstrapOf(nodes),
    clientId: 'sluice-local-kafka',
    connectTimeout: 1_000,
    ...(security ? localAdminConnection(security) : {}),
  })
  try {
    for (;;) {
      const dead = nodes.find((n) => !running(n))
      if (dead) {
        throw new LocalKafkaError(
          `Kafka node ${dead.id} exited during start-up. Last lines of ${dead.logFile}:\n${tail(dead.logFile, 25)}`,
        )
      }
      try {
        if ((await admin.brokerCount()) === nodes.length) return
      } catch {
        // Not listening yet: the broker port opens only once the node is unfenced.
      }
      if (Date.now() > deadline) {
        throw new LocalKafkaError(
          `Kafka did not answer a metadata request within ${Math.round(timeoutMs / 1000)} s. Last lines of ${nodes[0]?.logFile}:\n${tail(nodes[0]?.logFile ?? '', 25)}`,
        )
      }
      await sleep(250)
    }
  } finally {
    await admin.close().catch(() => {})
  }
}

/**
 * Starts a local Apache Kafka cluster in KRaft mode (or finds it running) and returns once every broker
 * answers a metadata request. The JVMs are detached: they keep running after this process exits, until
 * stopLocalKafka() is called for the same data dir. A stopped cluster's data dir is reused, so topics and
 * committed offsets survive a restart.
 */
export async function startLocalKafka(
  options: StartLocalKafkaOptions = {},
  portRetries = 2,
): Promise<LocalKafka> {
  const log = options.log ?? (() => {})
  const dataDir = resolve(options.dataDir ?? DEFAULT_DATA_DIR)
  const existing = await readState(dataDir)
  if (existing && options.nodes !== undefined && existing.nodes.length !== options.nodes) {
    throw new UsageError(
      `${dataDir} holds a ${existing.nodes.length}-node cluster; use another --data-dir for ${options.nodes} node(s) or delete it.`,
    )
  }
  if (existing && options.secure && !existing.secure) {
    throw new UsageError(
      `${dataDir} holds a cluster started without --secure; use another --data-dir for a secured one or delete it.`,
    )
  }
  const secure = existing?.secure ?? options.secure ?? false
  if (secure && (existing?.nodes.length ?? options.nodes ?? 1) !== 1) {
    throw new UsageError(
      '--secure starts a single node: drop --nodes 3 (a secured 3-node cluster is not supported).',
    )
  }
  if (options.oauthTestListener && !secure) {
    throw new UsageError('--oauth-test-listener needs --secure (it is a listener of the secured broker).')
  }
  if (options.oauthTestListener && existing?.nodes.some((n) => n.oauthPort === undefined)) {
    throw new UsageError(
      `${dataDir} holds a cluster started without --oauth-test-listener; use another --data-dir for one with it or delete it.`,
    )
  }
  if (existing?.nodes.every(running)) {
    const goneOwner = existing.owner !== undefined && !ownerAlive(existing.owner) ? existing.owner : undefined
    if (goneOwner !== undefined) {
      // Taken over by this run, or kept as a standing cluster by `sluice kafka start`.
      const { owner: _gone, ...standing } = existing
      await writeState(dataDir, options.own ? { ...standing, owner: process.pid } : standing)
    }
    return {
      bootstrap: bootstrapOf(existing.nodes),
      dataDir,
      clusterId: existing.clusterId,
      nodes: existing.nodes,
      started: false,
      ...(options.own && goneOwner !== undefined ? { takenOverFrom: goneOwner } : {}),
      security: secure ? await localKafkaSecurity(dataDir) : undefined,
      ...mtlsBootstrapOf(existing.nodes),
    }
  }
  if (existing?.nodes.some(running)) {
    throw new LocalKafkaError(
      `Part of the cluster in ${dataDir} is still running: run "sluice kafka stop --data-dir ${dataDir}" first.`,
    )
  }

  const java = await findJava()
  const classpath = await brokerClasspath(log)
  const count = options.nodes ?? 1
  const clusterId = existing?.clusterId ?? newClusterId()
  const planned =
    existing?.nodes ??
    (await planNodes(dataDir, count, options.port ?? 9092, secure, options.oauthTestListener ?? false))
  const heapMb = options.heapMb ?? (planned.length === 1 ? 512 : 384)
  await mkdir(dataDir, { recursive: true })
  const security = secure ? await localKafkaSecurity(dataDir) : undefined

  for (const node of planned) {
    await mkdir(join(node.dir, 'logs'), { recursive: true })
    // Holds passwords when secured: readable by the owner only.
    await writeFile(join(node.dir, 'server.properties'), serverProperties(node, planned, security), {
      mode: 0o600,
    })
    await writeFile(join(node.dir, 'log4j2.properties'), BROKER_LOG4J)
    await writeFile(join(node.dir, 'tools-log4j2.properties'), TOOL_LOG4J)
  }
  await Promise.all(planned.map((node) => formatNode(java, classpath, node, clusterId, security)))

  const nodes: LocalKafkaNode[] = await Promise.all(
    planned.map(async (node) => ({
      id: node.id,
      port: node.port,
      controllerPort: node.controllerPort,
      ...(node.mtlsPort !== undefined ? { mtlsPort: node.mtlsPort } : {}),
      ...(node.oauthPort !== undefined ? { oauthPort: node.oauthPort } : {}),
      dir: node.dir,
      ...(await launchNode(java, classpath, node, heapMb)),
    })),
  )
  await writeState(dataDir, {
    version: 1,
    clusterId,
    ...(secure ? { secure } : {}),
    ...(options.own ? { owner: process.pid } : {}),
    nodes,
  })
  log(`Starting Kafka (${nodes.length} node${nodes.length > 1 ? 's' : ''}) in ${dataDir}…`)
  try {
    await waitUntilReady(nodes, options.readyTimeoutMs ?? 120_000, security)
  } catch (error) {
    await stopLocalKafka({ dataDir })
    // Ports picked free (port 0) can be taken by another process before a node binds them: a new cluster
    // then starts over on other free ports.
    if (!existing && options.port === 0 && portRetries > 0 && /Address already in use/.test(String(error))) {
      for (const node of planned) await rm(node.dir, { recursive: true, force: true })
      await rm(stateFile(dataDir), { force: true })
      log('A port was taken meanwhile; starting again on other free ports…')
      return startLocalKafka(options, portRetries - 1)
    }
    throw error
  }
  return {
    bootstrap: bootstrapOf(nodes),
    dataDir,
    clusterId,
    nodes,
    started: true,
    security,
    ...mtlsBootstrapOf(nodes),
  }
}

export interface StopResult {
  readonly dataDir: string
  readonly stopped: number
  readonly killed: number
}

/** Stops every node of the cluster in `dataDir`: SIGTERM (controlled shutdown), then SIGKILL after the grace time. */
export async function stopLocalKafka(
  options: { dataDir?: string; graceMs?: number } = {},
): Promise<StopResult> {
  const dataDir = resolve(options.dataDir ?? DEFAULT_DATA_DIR)
  const state = await readState(dataDir)
  if (!state) return { dataDir, stopped: 0, killed: 0 }
  const outcomes = await Promise.all(
    state.nodes.map(async (n) => {
      const outcome = n.pid === null ? 'gone' : await terminate(n.pid, n.dir, options.graceMs ?? 30_000)
      await settleClassArchive(n.dir, outcome === 'terminated')
      return outcome
    }),
  )
  const { owner: _stopped, ...standing } = state
  await writeState(dataDir, { ...standing, nodes: state.nodes.map((n) => ({ ...n, pid: null })) })
  return {
    dataDir,
    stopped: outcomes.filter((o) => o === 'terminated').length,
    killed: outcomes.filter((o) => o === 'killed').length,
  }
}

/** What `sluice kafka status` prints: the nodes and whether each runs. */
export async function localKafkaStatus(options: { dataDir?: string } = {}) {
  const dataDir = resolve(options.dataDir ?? DEFAULT_DATA_DIR)
  const state = await readState(dataDir)
  return {
    dataDir,
    bootstrap: state ? bootstrapOf(state.nodes) : undefined,
    nodes: (state?.nodes ?? []).map((n) => ({
      id: n.id,
      port: n.port,
      pid: n.pid,
      running: running(n),
      logFile: n.logFile,
    })),
  }
}
