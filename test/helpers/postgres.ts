/**
 * A real PostgreSQL for the connector tests, no mocks. With DATABASE_URL set, each call gets its own schema
 * in that database (search_path and application_name set through the URL) and stop() drops it. Otherwise it
 * creates a private cluster under a temp dir (initdb + pg_ctl on a free 127.0.0.1 port, socket in the dir),
 * with fsync off: a test cluster is thrown away, so durability against power loss buys nothing there.
 * PostgreSQL refuses to run as root, so as root initdb and pg_ctl run as the `postgres` user (runuser, or su).
 */
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync, readdirSync } from 'node:fs'
import { chown, mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'

export interface TestPostgres {
  /** Connection URL for the sink (`postgres({ url })`). */
  readonly url: string
  stop(): Promise<void>
  /**
   * Takes the database away and brings it back: a private cluster is stopped (fast shutdown) and started
   * again after `downMs`; with DATABASE_URL the test's connections are terminated instead (57P01, as in a
   * server shutdown), since an external server cannot be restarted from here.
   */
  restart(downMs?: number): Promise<void>
}

/**
 * A database for one test file. `ownServer`: a cluster of its own even when the run shares one (a test that
 * stops and starts the server). Without DATABASE_URL, the test run's global setup starts one cluster for
 * every file (SLUICE_TEST_POSTGRES_URL, see startSharedPostgres), and each call gets a schema in it: a cluster
 * took 4–8 s to create here, once per test file.
 */
export async function startPostgres(options: { readonly ownServer?: boolean } = {}): Promise<TestPostgres> {
  const external =
    process.env.DATABASE_URL ?? (options.ownServer ? undefined : process.env.SLUICE_TEST_POSTGRES_URL)
  return external ? await schemaInExternalDatabase(external) : await privateCluster()
}

/**
 * The cluster the test files share (global setup): undefined where PostgreSQL is not installed, so that only
 * the tests that need it fail, each with the helper's message.
 */
export async function startSharedPostgres(): Promise<TestPostgres | undefined> {
  if (process.env.DATABASE_URL) return undefined
  try {
    findBinDir()
  } catch {
    return undefined
  }
  return privateCluster()
}

async function schemaInExternalDatabase(base: string): Promise<TestPostgres> {
  const schema = `sluice_test_${randomUUID().replaceAll('-', '').slice(0, 12)}`
  const admin = new pg.Client({ connectionString: base })
  await admin.connect()
  try {
    await admin.query(`CREATE SCHEMA "${schema}"`)
  } finally {
    await admin.end()
  }
  const url = new URL(base)
  url.searchParams.set('options', `-c search_path=${schema}`)
  url.searchParams.set('application_name', schema)
  return {
    url: url.toString(),
    async stop() {
      const client = new pg.Client({ connectionString: base })
      await client.connect()
      try {
        await client.query(`DROP SCHEMA "${schema}" CASCADE`)
      } finally {
        await client.end()
      }
    },
    async restart(downMs = 500) {
      const client = new pg.Client({ connectionString: base })
      await client.connect()
      try {
        const kill = () =>
          client.query(
            'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()',
            [schema],
          )
        await kill()
        // Keep terminating for the "down" period, so reconnects during it fail too.
        const until = Date.now() + downMs
        while (Date.now() < until) {
          await new Promise((r) => setTimeout(r, 50))
          await kill()
        }
      } finally {
        await client.end()
      }
    },
  }
}

function findBinDir(): string {
  const onPath = (process.env.PATH ?? '').split(':').find((dir) => dir && existsSync(join(dir, 'pg_ctl')))
  if (onPath && existsSync(join(onPath, 'initdb'))) return onPath
  const root = '/usr/lib/postgresql'
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a))
    if (versions[0]) return join(root, versions[0], 'bin')
  }
  throw new Error(
    'PostgreSQL is not installed (no initdb/pg_ctl on PATH or in /usr/lib/postgresql/*/bin) and DATABASE_URL is not set: ' +
      'install it (Debian: apt-get install postgresql) or point DATABASE_URL at a database.',
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

function exec(file: string, args: readonly string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} ${args.join(' ')} failed: ${stderr || stdout || error.message}`))
      else resolve(stdout)
    })
  })
}

async function privateCluster(): Promise<TestPostgres> {
  const bin = findBinDir()
  const dir = await mkdtemp(join(tmpdir(), 'sluice-pg-'))
  const data = join(dir, 'data')
  const asRoot = process.getuid?.() === 0
  // As root: run the server tools as the postgres user, which must own the directory.
  const run = async (tool: string, args: readonly string[]) => {
    const path = join(bin, tool)
    if (!asRoot) return exec(path, args, dir)
    if (existsSync('/usr/sbin/runuser') || existsSync('/sbin/runuser'))
      return exec('runuser', ['-u', 'postgres', '--', path, ...args], dir)
    const quoted = [path, ...args].map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ')
    return exec('su', ['postgres', '-s', '/bin/sh', '-c', quoted], dir)
  }
  if (asRoot) {
    const { uid, gid } = await postgresUser()
    await chown(dir, uid, gid)
  }
  await run('initdb', ['-D', data, '-U', 'sluice', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8'])
  let port = await freePort()
  const start = async (attempts: number) => {
    let lastError: unknown
    for (let attempt = 0; attempt < attempts; attempt++) {
      try {
        await run('pg_ctl', [
          '-D',
          data,
          '-l',
          join(dir, 'server.log'),
          '-w',
          '-t',
          '30',
          '-o',
          `-k ${dir} -c listen_addresses=127.0.0.1 -p ${port} -c fsync=off -c synchronous_commit=off -c full_page_writes=off`,
          'start',
        ])
        return
      } catch (error) {
        // The free port may have been taken in between: try another.
        lastError = error
        port = await freePort()
      }
    }
    throw lastError
  }
  const stopServer = () => run('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '30', 'stop'])
  await start(5)
  const url = `postgres://sluice@127.0.0.1:${port}/postgres`
  return {
    url,
    async stop() {
      await stopServer().catch(() => {})
      await rm(dir, { recursive: true, force: true })
    },
    async restart(downMs = 500) {
      await stopServer()
      await new Promise((r) => setTimeout(r, downMs))
      // Same port: the URL the pipeline holds must work again.
      await start(1)
    },
  }
}

async function postgresUser(): Promise<{ uid: number; gid: number }> {
  const line = await exec('getent', ['passwd', 'postgres'], '/').catch(() => '')
  const [, , uid, gid] = line.trim().split(':')
  if (!uid || !gid)
    throw new Error(
      'Running as root needs a `postgres` system user to run the test cluster (apt-get install postgresql creates it).',
    )
  return { uid: Number(uid), gid: Number(gid) }
}
