/**
 * A real schema registry for tests and benchmarks: Apicurio Registry (a Quarkus app from Maven Central) with
 * in-memory storage on a free port of 127.0.0.1, serving the Confluent-compatible API at /apis/ccompat/v7.
 * Confluent's own registry and Karapace cannot be had here; Apicurio speaks the same REST API.
 *
 * The app is fetched once with Maven (into ~/.m2) and unpacked into ~/.cache/sluice/apicurio-<version>. It
 * needs Java 21+: JAVA21_HOME, JAVA_HOME or `java` if recent enough, else the newest JDK under /usr/lib/jvm or
 * /opt (the machine's Temurin).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { closeSync, existsSync, openSync, readdirSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { parseJavaMajor } from '../../src/local-kafka/tools.ts'

const run = promisify(execFile)

export const APICURIO_VERSION = '3.3.3'
const ARTIFACT = `io.apicurio:apicurio-registry-app:${APICURIO_VERSION}:tar.gz:all`
const MIN_JAVA = 21

export interface TestRegistry {
  /** The Confluent-compatible API: http://127.0.0.1:<port>/apis/ccompat/v7 */
  readonly url: string
  /** Stops the server (its storage is in memory) and removes its directory. */
  stop(): Promise<void>
}

async function javaMajor(java: string): Promise<number | undefined> {
  try {
    const { stderr, stdout } = await run(java, ['-version'])
    return parseJavaMajor(stderr + stdout)
  } catch {
    return undefined
  }
}

/** A `java` of version 21 or newer, or an Error saying none was found. */
export async function findJava21(): Promise<string> {
  const candidates: string[] = []
  for (const home of [process.env.JAVA21_HOME, process.env.JAVA_HOME])
    if (home) candidates.push(join(home, 'bin', 'java'))
  candidates.push('java')
  for (const root of ['/usr/lib/jvm', '/opt']) {
    if (!existsSync(root)) continue
    for (const entry of readdirSync(root).sort().reverse()) candidates.push(join(root, entry, 'bin', 'java'))
  }
  for (const java of candidates) {
    if (java !== 'java' && !existsSync(java)) continue
    const major = await javaMajor(java)
    if (major !== undefined && major >= MIN_JAVA) return java
  }
  throw new Error(
    `Apicurio Registry needs Java ${MIN_JAVA}+ and none was found (JAVA21_HOME, JAVA_HOME, java, /usr/lib/jvm, /opt): install one (Debian: apt-get install openjdk-21-jre-headless, or Temurin) or set JAVA21_HOME.`,
  )
}

/** The unpacked app (its quarkus-run.jar), fetched with Maven the first time. */
export async function apicurioHome(): Promise<string> {
  const cache = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'sluice')
  const home = join(cache, `apicurio-${APICURIO_VERSION}`)
  if (existsSync(join(home, 'quarkus-run.jar'))) return home
  await mkdir(cache, { recursive: true })
  const work = await mkdtemp(join(cache, 'apicurio-download-'))
  try {
    await run('mvn', ['-B', '-q', 'dependency:copy', `-Dartifact=${ARTIFACT}`, `-DoutputDirectory=${work}`], {
      maxBuffer: 16 * 1024 * 1024,
    })
    const unpacked = join(work, 'app')
    await mkdir(unpacked)
    await run('tar', [
      'xzf',
      join(work, `apicurio-registry-app-${APICURIO_VERSION}-all.tar.gz`),
      '-C',
      unpacked,
    ])
    // Another process may have finished first: theirs is as good as ours.
    if (!existsSync(join(home, 'quarkus-run.jar'))) await rename(unpacked, home)
  } finally {
    await rm(work, { recursive: true, force: true })
  }
  return home
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

async function answers(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/subjects`, { signal: AbortSignal.timeout(2000) })
    return response.ok
  } catch {
    return false
  }
}

/** Starts a private Apicurio Registry; resolves once its Confluent-compatible API answers. */
export async function startRegistry(): Promise<TestRegistry> {
  const [java, home] = await Promise.all([findJava21(), apicurioHome()])
  const dir = await mkdtemp(join(tmpdir(), 'sluice-apicurio-'))
  const log = join(dir, 'apicurio.log')
  const port = await freePort()
  const managementPort = await freePort()
  const out = openSync(log, 'w')
  const child: ChildProcess = spawn(
    java,
    [
      `-Dquarkus.http.port=${port}`,
      '-Dquarkus.http.host=127.0.0.1',
      // Its management interface takes port 9000 on every address unless told otherwise (whether it is
      // enabled is fixed when the app is built), and several registries must coexist: two test files at
      // once failed with "Unable to start the management interface on 0.0.0.0:9000".
      '-Dquarkus.management.enabled=false',
      `-Dquarkus.management.port=${managementPort}`,
      '-Dquarkus.management.host=127.0.0.1',
      '-Xmx512m',
      '-jar',
      join(home, 'quarkus-run.jar'),
    ],
    { cwd: dir, stdio: ['ignore', out, out] },
  )
  closeSync(out)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const killOnExit = () => child.kill('SIGKILL')
  process.once('exit', killOnExit)
  const url = `http://127.0.0.1:${port}/apis/ccompat/v7`
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
      await exited
      clearTimeout(timer)
    }
    process.removeListener('exit', killOnExit)
    await rm(dir, { recursive: true, force: true })
  }
  const deadline = Date.now() + 180_000
  while (!(await answers(url))) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      const text = await readFile(log, 'utf8').catch(() => '')
      await stop()
      throw new Error(
        `Apicurio Registry ${child.exitCode !== null ? `exited (${child.exitCode})` : 'did not answer within 180 s'}:\n${text.slice(-3000)}`,
      )
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return { url, stop }
}
