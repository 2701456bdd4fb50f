/**
 * A real MariaDB for tests and benchmarks: the server MYSQL_URL points at (a fresh database in it per call,
 * dropped by stop()), or a private server on a free port of 127.0.0.1 in a temporary directory, initialised
 * with mariadb-install-db and removed by stop().
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import mysql2 from 'mysql2/promise'

export interface MariaDb {
  /** mysql://root@127.0.0.1:<port>/<database> */
  readonly url: string
  readonly database: string
  /** False for a server we did not start (MYSQL_URL): it cannot be stopped or restarted by a test. */
  readonly own: boolean
  /** SIGTERM (a clean shutdown that rolls back open transactions) and wait; the data directory stays. */
  shutdown(): Promise<void>
  /** Start again on the same port and data directory after shutdown(). */
  start(): Promise<void>
  /** shutdown() then start(). */
  restart(): Promise<void>
  /** Stops the server and deletes its directory (or drops the database on a MYSQL_URL server). */
  stop(): Promise<void>
}

export interface MariaDbOptions {
  /** InnoDB buffer pool, MB; default 64. */
  readonly bufferPoolMb?: number
  /** Default 100. */
  readonly maxConnections?: number
}

const run = promisify(execFile)

function findBinary(names: readonly string[]): string {
  const dirs = [
    '/usr/sbin',
    '/usr/bin',
    '/usr/local/sbin',
    '/usr/local/bin',
    ...(process.env.PATH ?? '').split(':'),
  ]
  for (const name of names)
    for (const dir of dirs) if (dir && existsSync(join(dir, name))) return join(dir, name)
  throw new Error(
    `MariaDB is not installed (looked for ${names.join(', ')}): apt-get install mariadb-server, or set MYSQL_URL.`,
  )
}

async function freePort(): Promise<number> {
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

/**
 * A database of its own for the caller: in the server MYSQL_URL names, else in the one the test files share
 * (SLUICE_TEST_MYSQL_URL, started by the global setup: a server took ~5.6 s to bootstrap, once per file),
 * else in a private server. `ownServer` (a test that restarts the server or changes its global settings) and
 * `bufferPoolMb` (a benchmark) always get a private one unless MYSQL_URL is set.
 */
export async function startMariaDb(
  options: MariaDbOptions & { readonly ownServer?: boolean } = {},
): Promise<MariaDb> {
  const own = options.ownServer === true || options.bufferPoolMb !== undefined
  const external = process.env.MYSQL_URL ?? (own ? undefined : process.env.SLUICE_TEST_MYSQL_URL)
  return external ? externalDatabase(external) : privateServer(options)
}

/**
 * The server the test files share (global setup): undefined where MYSQL_URL names one or MariaDB is not
 * installed, so that only the tests that need it fail, each with the helper's message.
 */
export async function startSharedMariaDb(): Promise<MariaDb | undefined> {
  if (process.env.MYSQL_URL) return undefined
  try {
    findBinary(['mariadbd', 'mysqld'])
  } catch {
    return undefined
  }
  // Two test files at a time, each with a few pools.
  return privateServer({ maxConnections: 300 })
}

async function externalDatabase(base: string): Promise<MariaDb> {
  const database = `sluice_test_${randomUUID().replaceAll('-', '').slice(0, 12)}`
  const admin = new URL(base)
  admin.pathname = '/'
  const connect = () =>
    mysql2.createConnection({
      host: admin.hostname,
      port: admin.port ? Number(admin.port) : 3306,
      user: decodeURIComponent(admin.username) || 'root',
      password: decodeURIComponent(admin.password),
    })
  const conn = await connect()
  await conn.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4`)
  await conn.end()
  const url = new URL(base)
  url.pathname = `/${database}`
  const refuse = async () => {
    throw new Error('the MYSQL_URL server is not ours to stop or restart')
  }
  return {
    url: url.href,
    database,
    own: false,
    shutdown: refuse,
    start: refuse,
    restart: refuse,
    async stop() {
      const c = await connect()
      await c.query(`DROP DATABASE IF EXISTS \`${database}\``)
      await c.end()
    },
  }
}

async function privateServer(options: MariaDbOptions): Promise<MariaDb> {
  const mariadbd = findBinary(['mariadbd', 'mysqld'])
  const installDb = findBinary(['mariadb-install-db', 'mysql_install_db'])
  const dir = await mkdtemp(join(tmpdir(), 'sluice-mariadb-'))
  const dataDir = join(dir, 'data')
  const errorLog = join(dir, 'error.log')
  const port = await freePort()
  // As root the server must be told to stay root; as anyone else it runs as that user.
  const asUser = process.getuid?.() === 0 ? ['--user=root'] : []
  // Its own tmpdir: two servers bootstrapping at once in the shared /tmp collided on a temporary table name
  // ("Could not remove temporary table '/tmp/#sql-temptable-…'", then mariadb-install-db aborted; seen once).
  const tmp = join(dir, 'tmp')
  await mkdir(tmp)
  const common = [
    '--no-defaults',
    `--datadir=${dataDir}`,
    `--tmpdir=${tmp}`,
    '--innodb-log-file-size=16M',
    ...asUser,
  ]
  try {
    await run(
      installDb,
      [...common, '--auth-root-authentication-method=normal', '--skip-test-db', '--skip-name-resolve'],
      { timeout: 120_000 },
    )
  } catch (error) {
    await rm(dir, { recursive: true, force: true })
    throw new Error(`mariadb-install-db failed: ${(error as { stderr?: string }).stderr ?? String(error)}`)
  }
  const args = [
    ...common,
    `--socket=${join(dir, 'sock')}`,
    `--pid-file=${join(dir, 'mariadbd.pid')}`,
    `--log-error=${errorLog}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    '--skip-name-resolve',
    `--innodb-buffer-pool-size=${options.bufferPoolMb ?? 64}M`,
    '--innodb-flush-log-at-trx-commit=2',
    '--skip-log-bin',
    `--max-connections=${options.maxConnections ?? 100}`,
  ]
  let child: ChildProcess | undefined
  let exited: Promise<void> = Promise.resolve()
  const killOnExit = () => child?.kill('SIGKILL')
  process.once('exit', killOnExit)

  const start = async () => {
    const proc = spawn(mariadbd, args, { stdio: 'ignore' })
    child = proc
    exited = new Promise((resolve) => proc.once('exit', () => resolve()))
    const deadline = Date.now() + 60_000
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        const log = await readFile(errorLog, 'utf8').catch(() => '')
        throw new Error(
          `mariadbd exited (${proc.exitCode ?? proc.signalCode}):\n${log.split('\n').slice(-15).join('\n')}`,
        )
      }
      try {
        const conn = await mysql2.createConnection({
          host: '127.0.0.1',
          port,
          user: 'root',
          connectTimeout: 2000,
        })
        await conn.query('SELECT 1')
        await conn.end()
        return
      } catch (error) {
        if (Date.now() > deadline)
          throw new Error(`mariadbd did not accept connections within 60 s: ${String(error)}`)
        await new Promise((r) => setTimeout(r, 100))
      }
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

  await start()
  const database = 'sluice_test'
  const conn = await mysql2.createConnection({ host: '127.0.0.1', port, user: 'root' })
  await conn.query(`CREATE DATABASE ${database} CHARACTER SET utf8mb4`)
  await conn.end()
  return {
    url: `mysql://root@127.0.0.1:${port}/${database}`,
    database,
    own: true,
    shutdown,
    start,
    async restart() {
      await shutdown()
      await start()
    },
    async stop() {
      await shutdown()
      process.removeListener('exit', killOnExit)
      await rm(dir, { recursive: true, force: true })
    },
  }
}
