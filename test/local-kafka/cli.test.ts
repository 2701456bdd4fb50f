import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { KafkaAdmin } from '../../src/connectors/kafka/admin.ts'
import { KafkaConsumer } from '../../src/connectors/kafka/consumer.ts'
import { KafkaProducer } from '../../src/connectors/kafka/producer.ts'
import { parseJavaMajor } from '../../src/local-kafka/tools.ts'
import { runCli } from '../helpers/cli.ts'
import { waitFor } from '../helpers/wait.ts'

const dirs: string[] = []
async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  dirs.push(dir)
  return dir
}

after(async () => {
  for (const dir of dirs) {
    await runCli(['kafka', 'stop', '--data-dir', join(dir, 'kafka'), '--grace', '10'])
    await rm(dir, { recursive: true, force: true })
  }
})

describe('sluice kafka', () => {
  test('parses Java version strings of old and new JDKs', () => {
    assert.equal(parseJavaMajor('openjdk version "17.0.15" 2025-04-15'), 17)
    assert.equal(parseJavaMajor('java version "1.8.0_392"'), 8)
    assert.equal(parseJavaMajor('openjdk version "21" 2023-09-19'), 21)
  })

  test('missing Java: one line saying what to install, exit code 2', async () => {
    const dir = await tempDir('sluice-nojava-')
    const result = await runCli(['kafka', 'start', '--port', '0', '--data-dir', join(dir, 'kafka')], {
      env: { JAVA_HOME: '/nonexistent-java' },
    })
    assert.equal(result.code, 2)
    assert.match(result.stderr, /^sluice: Java 17\+ is needed .*install/m)
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr)
  })

  test('missing Maven on a machine without cached jars: one line, exit code 2', async () => {
    const dir = await tempDir('sluice-nomvn-')
    const result = await runCli(['kafka', 'start', '--port', '0', '--data-dir', join(dir, 'kafka')], {
      env: { MAVEN_HOME: '/nonexistent-maven', XDG_CACHE_HOME: join(dir, 'cache') },
    })
    assert.equal(result.code, 2)
    assert.match(result.stderr, /^sluice: Maven is needed .*install/m)
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr)
  })

  test('bad flags are one clear line and exit code 2', async () => {
    const badPort = await runCli(['kafka', 'start', '--port', 'abc'])
    assert.equal(badPort.code, 2)
    assert.match(badPort.stderr, /--port.*expected a whole number/)
    const badNodes = await runCli(['kafka', 'start', '--nodes', '2'])
    assert.equal(badNodes.code, 2)
    assert.match(badNodes.stderr, /Allowed choices are 1, 3/)
    const unknown = await runCli(['kafka', 'start', '--prot', '1'])
    assert.equal(unknown.code, 2)
    assert.match(unknown.stderr, /unknown option '--prot'/)
  })

  test('start, status, start again (already running), stop, and restart keeps the data', async () => {
    const dataDir = join(await tempDir('sluice-kafka-'), 'kafka')
    const started = await runCli(['kafka', 'start', '--port', '0', '--data-dir', dataDir], {
      timeoutMs: 180_000,
    })
    assert.equal(started.code, 0, started.stderr)
    const bootstrap = started.stdout.trim()
    assert.match(bootstrap, /^127\.0\.0\.1:\d+$/)

    const status = await runCli(['kafka', 'status', '--data-dir', dataDir])
    assert.match(status.stdout, /node 1 .* running \(pid \d+\)/)
    const again = await runCli(['kafka', 'start', '--data-dir', dataDir])
    assert.equal(again.stdout.trim(), bootstrap)
    assert.match(again.stderr, /already running/)

    const admin = new KafkaAdmin({ brokers: bootstrap })
    await admin.createTopic('kept', { partitions: 2 })
    await admin.close()

    const stopped = await runCli(['kafka', 'stop', '--data-dir', dataDir])
    assert.equal(stopped.code, 0)
    assert.match(stopped.stderr, /Stopped 1 node/)
    assert.match(
      await readFile(join(dataDir, 'node-1', 'broker.log'), 'utf8'),
      /shut down completed|Shutdown complete|shutting down/i,
    )

    const restarted = await runCli(['kafka', 'start', '--data-dir', dataDir], { timeoutMs: 180_000 })
    assert.equal(restarted.code, 0, restarted.stderr)
    assert.equal(restarted.stdout.trim(), bootstrap, 'a restart reuses the same ports')
    const admin2 = new KafkaAdmin({ brokers: bootstrap })
    assert.equal(await admin2.partitionCount('kept'), 2)
    await admin2.close()
    // The first clean stop on a machine (this one or an earlier broker's) recorded the broker's classes: the
    // restarted JVM maps them instead of loading and verifying them again.
    const pid = /pid (\d+)/.exec((await runCli(['kafka', 'status', '--data-dir', dataDir])).stdout)?.[1]
    assert.ok(pid)
    assert.match(await readFile(`/proc/${pid}/maps`, 'utf8'), /class-archives\/broker-[0-9a-f]+\.jsa/)
    assert.equal((await runCli(['kafka', 'stop', '--data-dir', dataDir])).code, 0)
  })

  test('--nodes 3 starts a replicated three-broker cluster on consecutive ports', async () => {
    const dataDir = join(await tempDir('sluice-kafka3-'), 'kafka')
    const started = await runCli(
      ['kafka', 'start', '--nodes', '3', '--port', '0', '--heap', '256', '--data-dir', dataDir],
      {
        timeoutMs: 180_000,
      },
    )
    assert.equal(started.code, 0, started.stderr)
    const bootstrap = started.stdout.trim()
    const ports = bootstrap.split(',').map((a) => Number(a.split(':')[1]))
    assert.equal(ports.length, 3)
    assert.deepEqual(ports, [ports[0]!, ports[0]! + 1, ports[0]! + 2])

    const admin = new KafkaAdmin({ brokers: bootstrap })
    try {
      // Waited for, not asserted at once: start returned when the cluster answered with three brokers, yet
      // one full `npm test` under load saw 1 of 3 right after (most likely brokers fenced for a moment for
      // heartbeats to the controller that came late).
      await waitFor(
        async () => (await admin.brokerCount()) === 3,
        60_000,
        'the cluster to show three brokers',
      )
      await admin.createTopic('replicated', { partitions: 3, replicationFactor: 3 })
    } finally {
      await admin.close()
    }
    const producer = new KafkaProducer({ brokers: bootstrap, transactionalId: 'three-node-tx' })
    const tx = await producer.beginTransaction()
    await tx.send(
      Array.from({ length: 30 }, (_, i) => ({ topic: 'replicated', key: `k${i}`, value: `v${i}` })),
    )
    await tx.commit()
    await producer.close()
    const consumer = new KafkaConsumer({ brokers: bootstrap, groupId: 'three-node', topics: ['replicated'] })
    let seen = 0
    for await (const batch of consumer.batches({
      maxRecords: 100,
      lingerMs: 50,
      idleMs: 500,
      signal: AbortSignal.timeout(30_000),
    })) {
      seen += batch.length
      if (seen >= 30) break
    }
    await consumer.close()
    assert.equal(seen, 30)
    const stopped = await runCli(['kafka', 'stop', '--data-dir', dataDir])
    assert.equal(stopped.code, 0, stopped.stderr)
    // All three end. On a loaded machine one node of three stopping at once has outlived the 30 s grace
    // (Kafka's own shutdown waiting on a quorum that was going away) and was killed: the stop still ends them all.
    const [, terminated, killed] = /Stopped (\d+) node\(s\)(?:, killed (\d+))?/.exec(stopped.stderr) ?? []
    assert.equal(Number(terminated) + Number(killed ?? 0), 3, stopped.stderr)
    assert.ok(Number(terminated) >= 2, stopped.stderr)
  })
})
