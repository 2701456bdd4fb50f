/**
 * A real MongoDB-compatible server for tests and benchmarks: a private FerretDB (built by
 * scripts/install-ferretdb.sh) on a free port of 127.0.0.1, with its PostgreSQL backend on a private
 * PostgreSQL (test/helpers/postgres.ts: its SQLite backend is about 5× slower on updates). Each start gets a
 * database name of its own, so servers sharing an external PostgreSQL (DATABASE_URL) do not meet.
 * shutdown()/start() take FerretDB away and bring it back on the same port (PostgreSQL stays, so the data
 * does), for outage tests; stop() stops both.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { MongoClient } from 'mongodb'
import { startPostgres, type TestPostgres } from './postgres.ts'

export interface TestFerretDb {
  /** mongodb://127.0.0.1:<port>/ */
  readonly url: string
  readonly port: number
  /** A database name of this server's own. */
  readonly database: string
  /** Stops FerretDB (SIGTERM) and waits until it exited; PostgreSQL keeps the data. */
  shutdown(): Promise<void>
  /** Starts FerretDB again on the same port after shutdown(). */
  start(): Promise<void>
  /** Stops FerretDB and its PostgreSQL and removes their directories. */
  stop(): Promise<void>
}

const VERSION = 'v1.24.2'
const START_MS = 30_000

function findBinary(): string {
  const cache = process.env.SLUICE_CACHE ?? join(homedir(), '.cache', 'sluice')
  const binary = join(cache, 'bin', `ferretdb-${VERSION}`)
  if (existsSync(binary)) return binary
  throw new Error(
    `FerretDB ${VERSION} is not installed (${binary}): run scripts/install-ferretdb.sh (needs Go).`,
  )
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

/** True once the server answers a ping within the caller's own deadline. */
async function answersPing(url: string, withinMs: number): Promise<boolean> {
  const client = new MongoClient(url, {
    serverSelectionTimeoutMS: Math.max(1, Math.min(withinMs, 2_000)),
    connectTimeoutMS: Math.max(1, withinMs),
  })
  try {
    await client.db('admin').command({ ping: 1 })
    return true
  } catch {
    return false
  } finally {
    await client.close().catch(() => {})
  }
}

export async function startFerretDb(): Promise<TestFerretDb> {
  const binary = findBinary()
  // FerretDB keeps its own schemas in the database it is given: a cluster of its own.
  const postgres: TestPostgres = await startPostgres({ ownServer: true })
  const dir = await mkdtemp(join(tmpdir(), 'sluice-ferretdb-'))
  const log = join(dir, 'ferretdb.log')
  const database = `sluice_${randomUUID().replaceAll('-', '').slice(0, 10)}`
  let port = await freePort()
  let child: ChildProcess | undefined
  let exited: Promise<void> = Promise.resolve()
  const killOnExit = () => child?.kill('SIGKILL')
  process.once('exit', killOnExit)
  const url = () => `mongodb://127.0.0.1:${port}/`

  const startOnce = async (): Promise<boolean> => {
    const { openSync, closeSync } = await import('node:fs')
    const out = openSync(log, 'a')
    const proc = spawn(
      binary,
      [
        `--listen-addr=127.0.0.1:${port}`,
        '--handler=postgresql',
        `--postgresql-url=${postgres.url}`,
        `--state-dir=${dir}`,
        '--debug-addr=-',
        '--telemetry=disable',
        '--log-level=warn',
      ],
      { stdio: ['ignore', out, out] },
    )
    closeSync(out)
    child = proc
    exited = new Promise((resolve) => proc.once('exit', () => resolve()))
    const deadline = Date.now() + START_MS
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        const text = await readFile(log, 'utf8').catch(() => '')
        if (/address already in use/i.test(text)) return false
        throw new Error(`ferretdb exited (${proc.exitCode ?? proc.signalCode}):\n${text.slice(-2000)}`)
      }
      if (await answersPing(url(), deadline - Date.now())) return true
      if (Date.now() > deadline) {
        proc.kill('SIGKILL')
        throw new Error(`ferretdb did not answer a ping within ${START_MS / 1000} s; its log: ${log}`)
      }
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  const shutdown = async () => {
    const proc = child
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return
    proc.kill('SIGTERM')
    const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000)
    await exited
    clearTimeout(timer)
  }
  try {
    // The free port may be taken between choosing it and binding it: try others (first start only, since a
    // restart must come back where the clients look).
    for (let attempt = 0; !(await startOnce()); attempt++) {
      if (attempt >= 3) throw new Error('ferretdb found every chosen port taken')
      port = await freePort()
    }
  } catch (error) {
    await postgres.stop()
    await rm(dir, { recursive: true, force: true })
    throw error
  }
  return {
    get url() {
      return url()
    },
    get port() {
      return port
    },
    database,
    shutdown,
    async start() {
      if (!(await startOnce())) throw new Error(`port ${port} was taken while ferretdb was down`)
    },
    async stop() {
      await shutdown()
      process.removeListener('exit', killOnExit)
      await postgres.stop()
      await rm(dir, { recursive: true, force: true })
    },
  }
}
