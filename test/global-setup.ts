import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startLocalKafka, stopLocalKafka } from '../src/local-kafka/cluster.ts'

/**
 * One real Kafka broker for the whole test run, on a free port, unless KAFKA_BROKERS points at one already.
 * Test files read the address from KAFKA_BROKERS (inherited by the test processes).
 */
let dataDir: string | undefined

export async function globalSetup(): Promise<void> {
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
  if (!dataDir) return
  await stopLocalKafka({ dataDir, graceMs: 20_000 })
  await rm(dataDir, { recursive: true, force: true })
}
