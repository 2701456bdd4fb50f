import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type CliResult, runCli, SLUICE_BIN } from '../helpers/cli.ts'
import { type SecureKafka, startSecureKafka } from '../helpers/secure-kafka.ts'
import { waitFor } from '../helpers/wait.ts'

/**
 * An unsecured JWS (alg "none"), which the broker's test listener (Kafka's unsecured validator) accepts while
 * `exp` is ahead: the token's `sub` is the principal, here the super user.
 */
function unsecuredToken(expiresAtMs: number): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const now = Math.floor(Date.now() / 1000)
  return `${part({ alg: 'none' })}.${part({ sub: 'admin', iat: now - 60, exp: Math.floor(expiresAtMs / 1000), nonce: randomUUID() })}.`
}

/**
 * SASL/OAUTHBEARER against the secured local broker's OAUTH listener (`kafka start --secure
 * --oauth-test-listener`: SASL_PLAINTEXT on loopback, sessions of at most 10 s, then re-authentication).
 */
describe('SASL/OAUTHBEARER against a broker', { timeout: 900_000 }, () => {
  let kafka: SecureKafka
  let brokers: string
  let dir: string
  const outputs: CliResult[] = []
  const tokens: string[] = []
  const noPlainBroker = { KAFKA_BROKERS: '' }

  async function sluice(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
    const result = await runCli(args, { env: { ...noPlainBroker, ...env }, timeoutMs: 180_000 })
    outputs.push(result)
    return result
  }

  async function writeToken(file: string, expiresAtMs: number): Promise<void> {
    const token = unsecuredToken(expiresAtMs)
    tokens.push(token)
    await writeFile(file, `${token}\n`, { mode: 0o600 })
  }

  const oauthFlags = (tokenFile: string) => [
    '--brokers',
    brokers,
    '--security-protocol',
    'SASL_PLAINTEXT',
    '--sasl-mechanism',
    'OAUTHBEARER',
    '--sasl-oauthbearer-token-file',
    tokenFile,
  ]

  function pipelineYaml(name: string, input: string, output: string, tokenFile: string): string {
    return [
      `pipeline: ${name}`,
      'security:',
      '  securityProtocol: SASL_PLAINTEXT',
      '  saslMechanism: OAUTHBEARER',
      `  saslOauthbearerTokenFile: ${tokenFile}`,
      `source: { kafka: { topics: ${input} } }`,
      'steps:',
      '  - filter: "event.event_id != \'\'"',
      `sink: { kafka: { topic: ${output}, createPartitions: 2 } }`,
      '',
    ].join('\n')
  }

  /**
   * Every event id on `topic`, read to its end by an --available-now pipeline into JSON lines (so the count is
   * exact, duplicates included), authenticating with a token command and a properties file.
   */
  async function idsOn(topic: string, tokenFile: string): Promise<string[]> {
    const name = `count-${randomUUID().slice(0, 8)}`
    const lake = join(dir, name)
    const properties = join(dir, `${name}.properties`)
    await writeFile(
      properties,
      [
        'security.protocol=SASL_PLAINTEXT',
        'sasl.mechanism=OAUTHBEARER',
        `sasl.oauthbearer.token.command=cat '${tokenFile}'`,
        '',
      ].join('\n'),
    )
    const file = join(dir, `${name}.yaml`)
    await writeFile(
      file,
      [
        `pipeline: ${name}`,
        `security: { kafkaConfig: ${properties} }`,
        `source: { kafka: { topics: ${topic} } }`,
        `sink: { lake: { path: ${lake}, format: jsonl } }`,
        '',
      ].join('\n'),
    )
    const r = await sluice([
      'run',
      file,
      '--available-now',
      '--brokers',
      brokers,
      '--checkpoint',
      join(dir, `${name}-cp`),
    ])
    assert.equal(r.code, 0, r.stderr)
    const ids: string[] = []
    for (const entry of await readdir(lake, { recursive: true })) {
      if (!entry.endsWith('.jsonl')) continue
      for (const line of (await readFile(join(lake, entry), 'utf8')).split('\n')) {
        if (line.trim() !== '') ids.push((JSON.parse(line) as { event_id: string }).event_id)
      }
    }
    return ids
  }

  /** Waits (listen --max) until `count` records are on `topic`, which the run creates when it starts. */
  async function throughRun(topic: string, tokenFile: string, count: number): Promise<CliResult> {
    const args = [
      'listen',
      ...oauthFlags(tokenFile),
      '--topic',
      topic,
      '--from-beginning',
      '--max',
      String(count),
    ]
    let result: CliResult | undefined
    await waitFor(
      async () => {
        result = await sluice(args)
        return !/does not exist/.test(result.stderr)
      },
      120_000,
      `topic ${topic}`,
    )
    return result as CliResult
  }

  async function produce(tokenFile: string, topic: string, count: number): Promise<void> {
    const r = await sluice([
      'produce',
      ...oauthFlags(tokenFile),
      '--topic',
      topic,
      '--partitions',
      '2',
      '--count',
      String(count),
      '--rate',
      'unlimited',
    ])
    assert.equal(r.code, 0, r.stderr)
  }

  before(async () => {
    kafka = await startSecureKafka({ oauthTestListener: true })
    assert.ok(kafka.oauthBootstrap, 'the OAUTH listener is in cluster.json')
    brokers = kafka.oauthBootstrap
    dir = await mkdtemp(join(tmpdir(), 'sluice-oauth-'))
  })

  after(async () => {
    await kafka?.stop()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('produce, listen and a YAML run authenticate with a token file, exactly once', async () => {
    const tokenFile = join(dir, 'token')
    await writeToken(tokenFile, Date.now() + 3_600_000)
    const input = `oauth-in-${randomUUID().slice(0, 8)}`
    const output = `oauth-out-${randomUUID().slice(0, 8)}`
    await produce(tokenFile, input, 300)

    const listened = await sluice([
      'listen',
      ...oauthFlags(tokenFile),
      '--topic',
      input,
      '--from-beginning',
      '--max',
      '300',
      '--json',
    ])
    assert.equal(listened.code, 0, listened.stderr)
    assert.equal(listened.stdout.trim().split('\n').length, 300)

    const file = join(dir, 'file.yaml')
    await writeFile(file, pipelineYaml('oauth-file', input, output, tokenFile))
    const checkpoint = join(dir, 'file-cp')
    const ran = await sluice([
      'run',
      file,
      '--available-now',
      '--brokers',
      brokers,
      '--checkpoint',
      checkpoint,
    ])
    assert.equal(ran.code, 0, ran.stderr)

    const ids = await idsOn(output, tokenFile)
    assert.equal(ids.length, 300)
    assert.equal(new Set(ids).size, 300, 'every event once')
  })

  it('a token that expires mid-run is renewed from its file at re-authentication; the run goes on exactly once', async () => {
    const tokenFile = join(dir, 'expiring-token')
    const otherToken = join(dir, 'other-token')
    await writeToken(otherToken, Date.now() + 3_600_000)
    const input = `oauth-renew-in-${randomUUID().slice(0, 8)}`
    const output = `oauth-renew-out-${randomUUID().slice(0, 8)}`
    await produce(otherToken, input, 200)

    // The run starts with a token that expires in 45 s (room for a slow start on a busy machine); the broker
    // ends its sessions by then at the latest.
    const firstExpiry = Date.now() + 45_000
    await writeToken(tokenFile, firstExpiry)
    const file = join(dir, 'renew.yaml')
    await writeFile(file, pipelineYaml('oauth-renew', input, output, tokenFile))
    const run = spawnRun(['run', file, '--brokers', brokers, '--checkpoint', join(dir, 'renew-cp')])
    try {
      // listen --max waits for them.
      const first = await throughRun(output, otherToken, 200)
      assert.equal(first.code, 0, `${first.stderr}\n${run.stderr()}`)
      assert.ok(
        Date.now() < firstExpiry,
        'the run started too slowly: its first token expired before renewal',
      )
      // An outside refresher renews the token before it expires...
      await writeToken(tokenFile, Date.now() + 3_600_000)
      // ...and the first one expires: every session it opened has ended by now, so the run is on the new one.
      await waitFor(() => Date.now() > firstExpiry + 1_000, 60_000, 'the first token to expire')
      await produce(otherToken, input, 200)
      const all = await throughRun(output, otherToken, 400)
      assert.equal(all.code, 0, `${all.stderr}\n${run.stderr()}`)
    } finally {
      run.child.kill('SIGTERM')
    }
    const code = await run.exited
    outputs.push({ code, stdout: run.stdout(), stderr: run.stderr() })
    assert.equal(code, 0, run.stderr())
    assert.doesNotMatch(run.stderr(), /authenticat|restart/i, 'the run went on without a failure')
    const ids = await idsOn(output, otherToken)
    assert.equal(ids.length, 400, 'no event twice')
    assert.equal(new Set(ids).size, 400, 'every event once')
  })

  it('an invalid (expired) token is one clear line and exit 2, not a retry loop', async () => {
    const tokenFile = join(dir, 'expired-token')
    await writeToken(tokenFile, Date.now() - 60_000)
    const file = join(dir, 'expired.yaml')
    await writeFile(file, pipelineYaml('oauth-expired', 'anything', 'anything-out', tokenFile))
    const r = await sluice([
      'run',
      file,
      '--available-now',
      '--brokers',
      brokers,
      '--checkpoint',
      join(dir, 'x'),
    ])
    assert.equal(r.code, 2, r.stderr)
    const lines = r.stderr.trim().split('\n')
    assert.equal(lines.length, 1, r.stderr)
    assert.match(
      lines[0] ?? '',
      /^sluice: SASL OAUTHBEARER authentication failed: the broker refused the OAUTHBEARER token \(invalid_token\)/,
    )

    const failing = await sluice(['listen', '--brokers', brokers, '--topic', 'anything', '--max', '1'], {
      KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT',
      KAFKA_SASL_MECHANISM: 'OAUTHBEARER',
      KAFKA_SASL_OAUTHBEARER_TOKEN_COMMAND: 'echo no token today >&2; exit 3',
    })
    assert.equal(failing.code, 2, failing.stderr)
    assert.equal(failing.stderr.trim().split('\n').length, 1, failing.stderr)
    assert.match(failing.stderr, /the OAUTHBEARER token command failed \(exit 3\): no token today/)
    assert.ok(!failing.stderr.includes('echo'), 'the command (which may hold a secret) is not printed')
  })

  it('no token is in any output', () => {
    assert.ok(tokens.length >= 4 && outputs.length >= 8)
    for (const token of tokens) {
      const payload = token.split('.')[1] ?? ''
      for (const r of outputs) {
        assert.ok(!r.stdout.includes(payload) && !r.stderr.includes(payload), 'a token is printed')
      }
    }
  })
})

function spawnRun(args: readonly string[]) {
  const child: ChildProcess = spawn(process.execPath, [SLUICE_BIN, ...args], {
    env: { ...process.env, KAFKA_BROKERS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString()
  })
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve))
  return { child, exited, stdout: () => stdout, stderr: () => stderr }
}
