import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { startRegistry, type TestRegistry } from '../helpers/apicurio.ts'
import { runCli } from '../helpers/cli.ts'
import { brokers, freshTopic } from '../helpers/kafka.ts'

/**
 * Registry credentials from every entry point (issue 17 item 5). Apicurio 3 takes basic auth only through
 * OIDC, so a small HTTP proxy in front of it stands for a registry behind basic auth: it forwards requests
 * that carry the expected Authorization header and answers 401 to the rest, and counts both.
 */

const USER = 'sluice-user'
const PASSWORD = `pw-${randomUUID()}`
const HEADER = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`

let registry: TestRegistry
let proxy: Server
let proxyUrl: string
const seen = { authorized: 0, refused: 0 }
const dirs: string[] = []

before(async () => {
  registry = await startRegistry()
  const upstream = new URL(registry.url)
  proxy = createServer((req, res) => {
    if (req.headers.authorization !== HEADER) {
      seen.refused++
      res.writeHead(401, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error_code: 40101, message: 'Unauthorized' }))
      return
    }
    seen.authorized++
    const { authorization: _, ...headers } = req.headers
    const forward = request(
      { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      },
    )
    forward.on('error', () => res.destroy())
    req.pipe(forward)
  })
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}${upstream.pathname}`
})
after(async () => {
  proxy?.closeAllConnections()
  await new Promise((resolve) => proxy?.close(resolve))
  await registry?.stop()
  for (const dir of dirs) await rm(dir, { recursive: true, force: true })
})

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-registry-auth-'))
  dirs.push(dir)
  return dir
}

/** Every file under dir, as text. */
async function filesUnder(dir: string): Promise<{ path: string; text: string }[]> {
  const out: { path: string; text: string }[] = []
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue
    const path = join(entry.parentPath, entry.name)
    out.push({ path, text: (await readFile(path)).toString('latin1') })
  }
  return out
}

function assertNoSecret(what: string, text: string): void {
  for (const secret of [PASSWORD, HEADER.slice(6)])
    assert.ok(!text.includes(secret), `${what} holds the registry password:\n${text.slice(0, 2000)}`)
}

/** Runs the command and checks the proxy let at least one request through and no output holds the password. */
async function authorizedRun(what: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const before = seen.authorized
  const result = await runCli(args, { env: { SCHEMA_REGISTRY_URL: '', ...env }, timeoutMs: 120_000 })
  assert.equal(result.code, 0, `${what}: ${result.stderr}`)
  assert.ok(seen.authorized > before, `${what}: no request with the credentials reached the registry`)
  assertNoSecret(what, result.stdout + result.stderr)
  return result
}

const produceArgs = (topic: string) => [
  'produce',
  '--format',
  'avro',
  '--topic',
  topic,
  '--count',
  '20',
  '--brokers',
  brokers(),
]

test('produce, run and start send the registry credentials from flags, the environment, the URL and YAML, and print them nowhere', async () => {
  const topic = await freshTopic('registry-auth', 1)
  const withUrl = proxyUrl.replace('//', `//${USER}:${encodeURIComponent(PASSWORD)}@`)
  await authorizedRun('produce with flags', [
    ...produceArgs(topic),
    '--registry',
    proxyUrl,
    '--registry-user',
    USER,
    '--registry-password',
    PASSWORD,
  ])
  await authorizedRun('produce with the environment', produceArgs(topic), {
    SCHEMA_REGISTRY_URL: proxyUrl,
    SCHEMA_REGISTRY_USER: USER,
    SCHEMA_REGISTRY_PASSWORD: PASSWORD,
  })
  await authorizedRun('produce with credentials in the URL', [...produceArgs(topic), '--registry', withUrl])

  // A wrong password: the registry's refusal, exit non-zero, neither password shown.
  const refusedBefore = seen.refused
  const wrong = await runCli([...produceArgs(topic), '--registry', proxyUrl, '--registry-user', USER], {
    env: { SCHEMA_REGISTRY_URL: '', SCHEMA_REGISTRY_PASSWORD: 'not-the-password' },
  })
  assert.notEqual(wrong.code, 0)
  assert.ok(seen.refused > refusedBefore)
  assert.match(wrong.stderr, /HTTP 401/)
  assert.ok(!wrong.stderr.includes('not-the-password'), wrong.stderr)
  assertNoSecret('the refused produce', wrong.stdout + wrong.stderr)

  // sluice run: the YAML takes the credentials from the environment by substitution.
  const dir = await tempDir()
  const yaml = join(dir, 'read.yaml')
  await writeFile(
    yaml,
    `pipeline: registry-auth-${Date.now()}\nsource:\n  kafka: { topics: ${topic}, startingOffsets: earliest }\nschema: { registry: { url: "${proxyUrl}", username: "\${SCHEMA_REGISTRY_USER}", password: "\${SCHEMA_REGISTRY_PASSWORD}" } }\nsink: { console: }\n`,
  )
  const ran = await authorizedRun(
    'run',
    [
      'run',
      yaml,
      '--available-now',
      '--brokers',
      brokers(),
      '--log-level',
      'info',
      '--checkpoint',
      join(dir, 'ckpt'),
    ],
    { SCHEMA_REGISTRY_USER: USER, SCHEMA_REGISTRY_PASSWORD: PASSWORD },
  )
  assert.equal(
    ran.stdout
      .trim()
      .split('\n')
      .filter((line) => line.includes('"event_id"')).length,
    60,
    ran.stdout,
  )
  for (const file of await filesUnder(dir)) if (file.path !== yaml) assertNoSecret(file.path, file.text)

  // sluice start: the main job on Avro, the credentials from the environment; nor in its data dir.
  const dataDir = await tempDir()
  await authorizedRun(
    'start',
    [
      'start',
      '--format',
      'avro',
      '--registry',
      proxyUrl,
      '--registry-user',
      USER,
      '--duration',
      '4s',
      '--rate',
      '50',
      '--history',
      '0',
      '--no-ui',
      '--brokers',
      brokers(),
      '--namespace',
      `auth-${process.pid}-${Date.now()}.`,
      '--data-dir',
      dataDir,
    ],
    { SCHEMA_REGISTRY_PASSWORD: PASSWORD },
  )
  for (const file of await filesUnder(dataDir)) assertNoSecret(file.path, file.text)
})
