import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startLocalKafka, stopLocalKafka } from '../src/local-kafka/cluster.ts'
import { type MariaDb, startSharedMariaDb } from './helpers/mariadb.ts'
import { startSharedPostgres, type TestPostgres } from './helpers/postgres.ts'

/**
 * One real Kafka broker for the whole test run, on a free port, unless KAFKA_BROKERS points at one already;
 * and, started beside it, one PostgreSQL cluster in which each test file gets a schema of its own (unless
 * DATABASE_URL points at a database) and one MariaDB server in which each gets a database (unless MYSQL_URL
 * does). Test files read their addresses from KAFKA_BROKERS, SLUICE_TEST_POSTGRES_URL and
 * SLUICE_TEST_MYSQL_URL (inherited by the test processes).
 */
let dataDir: string | undefined
let postgres: TestPostgres | undefined
let mariadb: MariaDb | undefined

export async function globalSetup(): Promise<void> {
  // Every test file is a process of its own and many spawn the CLI: V8's code cache on disk spares each
  // of them compiling the same few hundred modules again (a third of a CLI start's CPU).
  process.env.NODE_COMPILE_CACHE ??= join(tmpdir(), 'node-compile-cache')
  const [, sharedPostgres, sharedMariaDb] = await Promise.all([
    startKafka(),
    startSharedPostgres(),
    startSharedMariaDb(),
  ])
  postgres = sharedPostgres
  if (postgres) process.env.SLUICE_TEST_POSTGRES_URL = postgres.url
  mariadb = sharedMariaDb
  if (mariadb) process.env.SLUICE_TEST_MYSQL_URL = mariadb.url
}

async function startKafka(): Promise<void> {
  if (process.env.KAFKA_BROKERS) return
  dataDir = await mkdtemp(join(tmpdir(), 'sluice-test-kafka-'))
  const cluster = await startLocalKafka({
    port: 0,
    dataDir,
    log: (line) => process.stderr.write(`${line}\n`),
  })
  process.env.KAFKA_BROKERS = cluster.bootstrap
  process.env.SLUICE_TEST_OWN_BROKER = '1'
}

export async function globalTeardown(): Promise<void> {
  await postgres?.stop()
  await mariadb?.stop()
  if (!dataDir) return
  await stopLocalKafka({ dataDir, graceMs: 20_000 })
  await rm(dataDir, { recursive: true, force: true })
}
