/**
 * A real Redis for tests and benchmarks: a private redis-server on a free port of 127.0.0.1, without
 * persistence (`--save '' --appendonly no`: a test server is thrown away), its working directory a temporary
 * one removed by stop(). shutdown()/start() take it away and bring it back on the same port with its data,
 * for outage tests: shutdown() asks for `SHUTDOWN SAVE`, which writes the dataset once to the directory, and
 * the server loads it when it starts again.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface TestRedis {
  /** redis://127.0.0.1:<port> */
  readonly url: string
  readonly port: number
  /** `SHUTDOWN SAVE` (the dataset kept for start()) and wait until it exited. */
  shutdown(): Promise<void>
  /** Start again on the same port after shutdown(). */
  start(): Promise<void>
  /** Stops the server and removes its directory. */
  stop(): Promise<void>
}

function findServer(): string {
  const dirs = ['/usr/bin', '/usr/local/bin', '/usr/sbin', ...(process.env.PATH ?? '').split(':')]
  for (const dir of dirs) if (dir && existsSync(join(dir, 'redis-server'))) return join(dir, 'redis-server')
  throw new Error('redis-server is not installed: apt-get install redis-server (Debian).')
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

/**
 * Sends one inline command and resolves with the first reply line ('' when the connection closed first, or
 * nothing came within `withinMs`: the caller's own deadline, so a server that accepts but never answers
 * cannot hold the wait past it).
 */
function command(port: number, text: string, withinMs: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = new Socket()
    let reply = ''
    const done = () => {
      socket.destroy()
      resolve(reply.split('\r\n')[0] ?? '')
    }
    socket.setTimeout(Math.max(1, withinMs), done)
    socket.once('error', done)
    socket.once('close', done)
    socket.on('data', (d) => {
      reply += d.toString()
      if (reply.includes('\r\n')) done()
    })
    socket.connect(port, '127.0.0.1', () => socket.write(`${text}\r\n`))
  })
}

const answersPing = async (port: number, withinMs: number) =>
  (await command(port, 'PING', withinMs)) === '+PONG'

export async function startRedis(): Promise<TestRedis> {
  const binary = findServer()
  const dir = await mkdtemp(join(tmpdir(), 'sluice-redis-'))
  const log = join(dir, 'redis.log')
  let port = await freePort()
  let child: ChildProcess | undefined
  let exited: Promise<void> = Promise.resolve()
  const killOnExit = () => child?.kill('SIGKILL')
  process.once('exit', killOnExit)

  const args = () => [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    '--logfile',
    log,
    '--daemonize',
    'no',
  ]
  const startOnce = async (): Promise<boolean> => {
    const proc = spawn(binary, args(), { stdio: 'ignore' })
    child = proc
    exited = new Promise((resolve) => proc.once('exit', () => resolve()))
    const deadline = Date.now() + 30_000
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        const text = await readFile(log, 'utf8').catch(() => '')
        if (/Address already in use/.test(text)) return false
        throw new Error(`redis-server exited (${proc.exitCode ?? proc.signalCode}):\n${text.slice(-2000)}`)
      }
      if (await answersPing(port, deadline - Date.now())) return true
      if (Date.now() > deadline) throw new Error('redis-server did not answer PING within 30 s')
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  const shutdown = async () => {
    const proc = child
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return
    // The server closes the connection as it shuts down; the exit below is what the caller waits for.
    await command(port, 'SHUTDOWN SAVE', 30_000)
    const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000)
    await exited
    clearTimeout(timer)
  }
  // The free port may be taken between choosing it and binding it: try others (first start only, since a
  // restart must come back where the clients look).
  for (let attempt = 0; !(await startOnce()); attempt++) {
    if (attempt >= 3) throw new Error('redis-server found every chosen port taken')
    port = await freePort()
  }
  return {
    get url() {
      return `redis://127.0.0.1:${port}`
    },
    get port() {
      return port
    },
    shutdown,
    async start() {
      if (!(await startOnce())) throw new Error(`port ${port} was taken while redis-server was down`)
    },
    async stop() {
      await shutdown()
      process.removeListener('exit', killOnExit)
      await rm(dir, { recursive: true, force: true })
    },
  }
}
