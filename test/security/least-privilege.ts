import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { KafkaAdmin } from '../../src/connectors/kafka/admin.ts'
import type { KafkaSecurity } from '../../src/connectors/kafka/security.ts'
import { type CliResult, runCli } from '../helpers/cli.ts'
import { type AclGrant, describeGrant, KafkaAcls } from '../helpers/kafka-acls.ts'
import type { SecureKafka } from '../helpers/secure-kafka.ts'

/**
 * A pipeline run as the secured local broker's `sluice` user with exactly the ACLs the README's Security
 * section lists (granted by `admin`): it works exactly once, and without any one of them it stops at once
 * with one line naming the permission and exit 2.
 */
export function leastPrivilegeTests(broker: () => SecureKafka): void {
  describe('a pipeline with least-privilege ACLs', { timeout: 600_000 }, () => {
    let kafka: SecureKafka
    let dir: string
    let acls: KafkaAcls
    let admin: KafkaAdmin
    let superUser: KafkaSecurity
    const input = 'lp-in'

    function security(user: string, passwordVariable: string): string[] {
      return [
        'security:',
        '  securityProtocol: SASL_SSL',
        '  saslMechanism: SCRAM-SHA-512',
        `  saslUsername: ${user}`,
        `  saslPassword: ${'$'}{${passwordVariable}}`,
        `  sslCaLocation: ${kafka.security.caFile}`,
      ]
    }

    async function pipelineFile(name: string, body: readonly string[]): Promise<string> {
      const file = join(dir, `${name}.yaml`)
      await writeFile(
        file,
        [`pipeline: ${name}`, ...security('sluice', 'LP_PASSWORD'), ...body, ''].join('\n'),
      )
      return file
    }

    async function runAsUser(file: string, checkpoint: string): Promise<CliResult> {
      return runCli(
        ['run', file, '--available-now', '--brokers', kafka.bootstrap, '--checkpoint', join(dir, checkpoint)],
        { env: { KAFKA_BROKERS: '', LP_PASSWORD: kafka.security.user.password }, timeoutMs: 120_000 },
      )
    }

    /** The values of the first `max` records of `topic`, read as admin with read_committed. */
    async function read(topic: string, max: number): Promise<unknown[]> {
      const r = await runCli(
        [
          'listen',
          '--brokers',
          kafka.bootstrap,
          '--kafka-config',
          kafka.security.clientPropertiesFile,
          '--topic',
          topic,
          '--from-beginning',
          '--max',
          String(max),
          '--json',
        ],
        { env: { KAFKA_BROKERS: '' }, timeoutMs: 60_000 },
      )
      assert.equal(r.code, 0, r.stderr)
      return r.stdout
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((line) => (JSON.parse(line) as { value: unknown }).value)
    }

    /** Without `missing`, the run exits 2 with one line naming it (and how to grant it); then it is granted back. */
    async function deniedWithout(file: string, missing: AclGrant, line: RegExp): Promise<void> {
      await acls.revoke('sluice', [missing])
      try {
        const r = await runAsUser(
          file,
          `cp-${basename(file, '.yaml')}-without-${missing.resource}-${missing.name}-${missing.operation}`,
        )
        assert.equal(r.code, 2, `without ${describeGrant(missing)}: ${r.stderr}`)
        const lines = r.stderr.trim().split('\n')
        assert.equal(lines.length, 1, `without ${describeGrant(missing)}: ${r.stderr}`)
        assert.match(lines[0]!, line)
        assert.ok(!r.stderr.includes(kafka.security.user.password))
      } finally {
        await acls.grant('sluice', [missing])
      }
    }

    before(async () => {
      kafka = broker()
      dir = await mkdtemp(join(tmpdir(), 'sluice-acl-'))
      const { admin: user, caFile } = kafka.security
      superUser = {
        securityProtocol: 'SASL_SSL',
        saslMechanism: 'SCRAM-SHA-512',
        saslUsername: user.name,
        saslPassword: user.password,
        sslCaLocation: caFile,
      }
      acls = new KafkaAcls(kafka.bootstrap, superUser)
      admin = new KafkaAdmin({ brokers: kafka.bootstrap, security: superUser })
      const produced = await runCli(
        [
          'produce',
          '--brokers',
          kafka.bootstrap,
          '--kafka-config',
          kafka.security.clientPropertiesFile,
          '--topic',
          input,
          '--partitions',
          '2',
          '--count',
          '300',
          '--rate',
          'unlimited',
        ],
        { env: { KAFKA_BROKERS: '' }, timeoutMs: 120_000 },
      )
      assert.equal(produced.code, 0, produced.stderr)
    })

    after(async () => {
      await acls?.close()
      await admin?.close()
      if (dir) await rm(dir, { recursive: true, force: true })
    })

    // The README's list for a pipeline whose topics exist: read its input and its group, write its output and
    // its transactions.
    const etlGrants: AclGrant[] = [
      { resource: 'topic', name: input, operation: 'READ' },
      { resource: 'group', name: 'sluice-lp-etl', operation: 'READ' },
      { resource: 'topic', name: 'lp-etl-out', operation: 'WRITE' },
      { resource: 'transactional-id', name: 'sluice-lp-etl-', operation: 'WRITE', prefixed: true },
    ]

    it('Kafka to Kafka, exactly once, with only the ACLs listed; without any one, one line and exit 2', async () => {
      await admin.createTopic('lp-etl-out', { partitions: 2 })
      await acls.grant('sluice', etlGrants)
      const file = await pipelineFile('lp-etl', [
        `source: { kafka: { topics: ${input} } }`,
        'steps:',
        `  - filter: "event.event_id != ''"`,
        'sink: { kafka: { topic: lp-etl-out } }',
      ])
      const ran = await runAsUser(file, 'cp-etl')
      assert.equal(ran.code, 0, ran.stderr)
      const ids = (await read('lp-etl-out', 300)).map((v) => (v as { event_id: string }).event_id)
      assert.equal(ids.length, 300)
      assert.equal(new Set(ids).size, 300, 'every event once')
      const again = await runAsUser(file, 'cp-etl')
      assert.equal(again.code, 0, again.stderr)
      assert.match(again.stderr, /lp-etl: 0 records/, 'the offsets were committed with the output')

      const [readInput, readGroup, writeOutput, transactions] = etlGrants as [
        AclGrant,
        AclGrant,
        AclGrant,
        AclGrant,
      ]
      await deniedWithout(
        file,
        readInput,
        /^sluice: Kafka denies user "sluice" Read on topic "lp-in" \(TOPIC_AUTHORIZATION_FAILED\): grant it with kafka-acls\.sh --add --allow-principal User:sluice --operation Read --topic lp-in$/,
      )
      await deniedWithout(
        file,
        readGroup,
        /^sluice: Kafka denies user "sluice" Read on group "sluice-lp-etl" \(GROUP_AUTHORIZATION_FAILED\): grant it with .* --operation Read --group sluice-lp-etl$/,
      )
      await deniedWithout(
        file,
        writeOutput,
        /^sluice: Kafka denies user "sluice" Write on topic "lp-etl-out" \(TOPIC_AUTHORIZATION_FAILED\): grant it with .* --operation Write --topic lp-etl-out$/,
      )
      await deniedWithout(
        file,
        transactions,
        /^sluice: Kafka denies user "sluice" Write on transactional-id "sluice-lp-etl-" \(a prefix\) \(TRANSACTIONAL_ID_AUTHORIZATION_FAILED\): grant it with .* --operation Write --transactional-id sluice-lp-etl- --resource-pattern-type prefixed$/,
      )
    })

    it('a stateful pipeline creates, writes and restores its changelog with the ACLs listed', async () => {
      await admin.createTopic('lp-state-out', { partitions: 2 })
      const restoreGroups: AclGrant = {
        resource: 'group',
        name: 'sluice-restore-',
        operation: 'READ',
        prefixed: true,
      }
      const changelogs = (operation: AclGrant['operation']): AclGrant => ({
        resource: 'topic',
        name: 'lp-state-',
        operation,
        prefixed: true,
      })
      await acls.grant('sluice', [
        { resource: 'topic', name: input, operation: 'READ' },
        { resource: 'group', name: 'sluice-lp-state', operation: 'READ' },
        { resource: 'topic', name: 'lp-state-out', operation: 'WRITE' },
        { resource: 'transactional-id', name: 'sluice-lp-state-', operation: 'WRITE', prefixed: true },
        changelogs('CREATE'),
        changelogs('READ'),
        changelogs('WRITE'),
        restoreGroups,
      ])
      // Keyed by the record key (the user), so its state lives in changelog topics: lp-state-<step>-changelog.
      const file = await pipelineFile('lp-state', [
        `source: { kafka: { topics: ${input} } }`,
        'watermark: { field: event_time, delay: 5s }',
        'steps:',
        '  - keyBy: event.user_id',
        '    partitioned: true',
        '  - window: { tumbling: 1h }',
        '  - aggregate: { fields: { n: count } }',
        'sink: { kafka: { topic: lp-state-out } }',
      ])
      const ran = await runAsUser(file, 'cp-state')
      assert.equal(ran.code, 0, ran.stderr)
      const changelogTopics = (await admin.listTopics()).filter((t) => t.endsWith('-changelog'))
      assert.ok(
        changelogTopics.some((t) => t.startsWith('lp-state-')),
        `the changelog topics: ${changelogTopics.join(', ')}`,
      )
      const changelog = changelogTopics.find((t) => t.startsWith('lp-state-'))!
      assert.ok((await read(changelog, 1)).length === 1, 'the state was written to the changelog')

      // A new checkpoint directory: the state comes back from the changelog, read in a restore group.
      const restored = await runAsUser(file, 'cp-state-elsewhere')
      assert.equal(restored.code, 0, restored.stderr)
      await deniedWithout(
        file,
        restoreGroups,
        /^sluice: Kafka denies user "sluice" Read on group "sluice-restore-" \(a prefix\) \(GROUP_AUTHORIZATION_FAILED\): grant it with .* --operation Read --group sluice-restore- --resource-pattern-type prefixed$/,
      )
    })
  })
}
