/**
 * A real S3-compatible server for the lake tests, no mocks: versitygw (Versity S3 Gateway) with its POSIX
 * backend, a private instance per test file on a free 127.0.0.1 port over a temp dir, with its own bucket.
 * The binary comes from scripts/install-s3-server.sh (cached in ~/.cache/sluice/bin); without it the tests
 * fail and say to run the script. SLUICE_S3_SERVER may point at another versitygw binary.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import type { S3Options } from '../../src/connectors/lake/storage-s3.ts'

export const S3_SERVER_VERSION = 'v1.8.0'

export interface TestS3 {
  /** e.g. http://127.0.0.1:40123 */
  readonly endpoint: string
  readonly bucket: string
  /** Options for lake({ s3 }) / lakeTable({ s3 }) that reach this server. */
  readonly options: S3Options
  /** The same settings as AWS environment variables (for child processes). */
  readonly env: Readonly<Record<string, string>>
  /** Where the server keeps the bucket's objects (one file per object). */
  readonly bucketDir: string
  stop(): Promise<void>
}

export function s3ServerBinary(): string {
  const explicit = process.env.SLUICE_S3_SERVER
  if (explicit) return explicit
  const cache = process.env.SLUICE_CACHE ?? join(homedir(), '.cache', 'sluice')
  const path = join(cache, 'bin', `versitygw-${S3_SERVER_VERSION}`)
  if (!existsSync(path))
    throw new Error(
      `The S3 test server is not installed (${path} is missing): run scripts/install-s3-server.sh (builds versitygw ${S3_SERVER_VERSION} with Go, about 1.5 minutes).`,
    )
  return path
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

async function waitUntilUp(endpoint: string, proc: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 20_000
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`versitygw exited (${proc.exitCode}): ${output()}`)
    try {
      // Any HTTP answer (403 without a signature) means it listens.
      await fetch(endpoint, { signal: AbortSignal.timeout(1000) })
      return
    } catch {
      if (Date.now() > deadline) throw new Error(`versitygw did not start on ${endpoint}: ${output()}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }
}

export async function startS3(): Promise<TestS3> {
  const binary = s3ServerBinary()
  const dir = await mkdtemp(join(tmpdir(), 'sluice-s3-'))
  const root = join(dir, 'root')
  const bucket = 'lake'
  // A bucket of the POSIX backend is a top-level folder.
  await mkdir(join(root, bucket), { recursive: true })
  const accessKeyId = `sluice${randomBytes(4).toString('hex')}`
  const secretAccessKey = randomBytes(16).toString('hex')
  let lastError: unknown
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort()
    const endpoint = `http://127.0.0.1:${port}`
    const proc = spawn(
      binary,
      [
        '--port',
        `127.0.0.1:${port}`,
        '--access',
        accessKeyId,
        '--secret',
        secretAccessKey,
        '--quiet',
        'posix',
        root,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let out = ''
    proc.stdout?.on('data', (d: Buffer) => {
      out = (out + d.toString()).slice(-4000)
    })
    proc.stderr?.on('data', (d: Buffer) => {
      out = (out + d.toString()).slice(-4000)
    })
    try {
      await waitUntilUp(endpoint, proc, () => out)
    } catch (error) {
      // The free port may have been taken in between: try another.
      lastError = error
      proc.kill('SIGKILL')
      continue
    }
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
    return {
      endpoint,
      bucket,
      bucketDir: join(root, bucket),
      options: {
        endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId, secretAccessKey },
      },
      env: {
        AWS_ENDPOINT_URL_S3: endpoint,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: accessKeyId,
        AWS_SECRET_ACCESS_KEY: secretAccessKey,
        AWS_S3_FORCE_PATH_STYLE: 'true',
      },
      async stop() {
        if (proc.exitCode === null) {
          proc.kill('SIGTERM')
          await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))])
          if (proc.exitCode === null) proc.kill('SIGKILL')
        }
        await rm(dir, { recursive: true, force: true })
      },
    }
  }
  await rm(dir, { recursive: true, force: true })
  throw lastError
}
