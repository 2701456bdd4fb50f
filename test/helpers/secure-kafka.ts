import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { LocalKafkaSecurity } from '../../src/local-kafka/security.ts'
import { runCli } from './cli.ts'

/** A secured local broker (`sluice kafka start --secure` on free ports), for the tests that need one. */
export interface SecureKafka {
  readonly bootstrap: string
  /** The SSL listener that requires a client certificate (mTLS). */
  readonly mtlsBootstrap: string
  /** The OAUTHBEARER listener (SASL_PLAINTEXT, unsecured tokens), when started with `oauthTestListener`. */
  readonly oauthBootstrap?: string
  readonly dataDir: string
  readonly security: LocalKafkaSecurity
  /** What `kafka start --secure` printed on stderr (how to connect). */
  readonly startOutput: string
  stop(): Promise<void>
}

export async function startSecureKafka(options: { oauthTestListener?: boolean } = {}): Promise<SecureKafka> {
  const dataDir = await mkdtemp(join(tmpdir(), 'sluice-secure-kafka-'))
  const oauth = options.oauthTestListener ? ['--oauth-test-listener'] : []
  const started = await runCli(
    ['kafka', 'start', '--secure', ...oauth, '--port', '0', '--data-dir', dataDir],
    {
      timeoutMs: 240_000,
    },
  )
  if (started.code !== 0) throw new Error(`kafka start --secure failed (${started.code}):\n${started.stderr}`)
  const security = JSON.parse(
    await readFile(join(dataDir, 'security', 'security.json'), 'utf8'),
  ) as LocalKafkaSecurity
  const cluster = JSON.parse(await readFile(join(dataDir, 'cluster.json'), 'utf8')) as {
    nodes: { mtlsPort: number; oauthPort?: number }[]
  }
  const oauthPorts = cluster.nodes.flatMap((n) => (n.oauthPort === undefined ? [] : [n.oauthPort]))
  return {
    bootstrap: started.stdout.trim(),
    mtlsBootstrap: cluster.nodes.map((n) => `127.0.0.1:${n.mtlsPort}`).join(','),
    ...(oauthPorts.length > 0 ? { oauthBootstrap: oauthPorts.map((p) => `127.0.0.1:${p}`).join(',') } : {}),
    dataDir,
    security,
    startOutput: started.stderr,
    async stop() {
      await runCli(['kafka', 'stop', '--data-dir', dataDir, '--grace', '20'])
      await rm(dataDir, { recursive: true, force: true })
    },
  }
}
