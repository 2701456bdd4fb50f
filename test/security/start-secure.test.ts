import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { stopLocalKafka } from '../../src/local-kafka/cluster.ts'
import { runCli } from '../helpers/cli.ts'

// The global setup's plain broker is in $KAFKA_BROKERS: these runs must use the local broker they start.
const noBrokers = { KAFKA_BROKERS: '' }

describe('sluice start and Kafka security', { timeout: 900_000 }, () => {
  let dir: string | undefined
  after(async () => {
    if (!dir) return
    await stopLocalKafka({ dataDir: join(dir, 'kafka'), graceMs: 10_000 })
    await rm(dir, { recursive: true, force: true })
  })

  it('security flags or variables without --brokers are one line and exit 2, before any broker starts', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-start-secure-'))
    const start = ['start', '--data-dir', dir, '--port', '0', '--no-ui']
    const flags = await runCli(
      [...start, '--security-protocol', 'SASL_SSL', '--sasl-mechanism', 'SCRAM-SHA-512'],
      {
        env: noBrokers,
        timeoutMs: 30_000,
      },
    )
    assert.equal(flags.code, 2, flags.stderr)
    assert.equal(
      flags.stderr,
      'sluice: --security-protocol, --sasl-mechanism are for a cluster given with --brokers or $KAFKA_BROKERS, not for the local broker sluice start runs: leave them out, or add --secure for a secured local broker (SASL_SSL with SCRAM, its own CA and users)\n',
    )
    const variable = await runCli([...start, '--secure'], {
      env: { ...noBrokers, KAFKA_SASL_PASSWORD: 'a-password-for-elsewhere' },
      timeoutMs: 30_000,
    })
    assert.equal(variable.code, 2, variable.stderr)
    assert.match(variable.stderr, /^sluice: \$KAFKA_SASL_PASSWORD is for a cluster given with --brokers/)
    assert.equal(variable.stderr.trim().split('\n').length, 1, variable.stderr)
    assert.ok(!variable.stderr.includes('a-password-for-elsewhere'))

    const both = await runCli([...start, '--secure', '--brokers', '127.0.0.1:9'], {
      timeoutMs: 30_000,
    })
    assert.equal(both.code, 2, both.stderr)
    assert.match(both.stderr, /^sluice: --secure secures the local broker; a cluster given with --brokers/)
  })
})
