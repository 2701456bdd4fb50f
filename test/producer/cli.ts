import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** Runs bin/sluice.js in a child process, as a user would. */
export const SLUICE = fileURLToPath(new URL('../../bin/sluice.js', import.meta.url))

export interface Finished {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: Buffer
  readonly stderr: string
}

/** A running `sluice …`: its output so far, and ways to wait for it and stop it. */
export class Sluice {
  readonly child: ChildProcess
  readonly exited: Promise<Finished>
  #stdout: Buffer[] = []
  #stderr = ''
  #listeners = new Set<() => void>()

  constructor(args: readonly string[], env: NodeJS.ProcessEnv = process.env) {
    this.child = spawn(process.execPath, [SLUICE, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    this.child.stdout!.on('data', (chunk: Buffer) => {
      this.#stdout.push(chunk)
      this.#notify()
    })
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.#stderr += chunk.toString()
      this.#notify()
    })
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        this.#notify()
        resolve({ code, signal, stdout: this.stdout, stderr: this.#stderr })
      })
    })
  }

  get stdout(): Buffer {
    return Buffer.concat(this.#stdout)
  }

  get stderr(): string {
    return this.#stderr
  }

  /** Complete lines of stdout so far. */
  stdoutLines(): string[] {
    const text = this.stdout.toString()
    return text
      .slice(0, text.lastIndexOf('\n') + 1)
      .split('\n')
      .filter(Boolean)
  }

  /** Resolves once `condition` holds (checked on output and every 100 ms), rejects after `timeoutMs` or on exit. */
  waitFor(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (condition()) {
          done()
          resolve()
        } else if (this.child.exitCode !== null || this.child.signalCode !== null) {
          done()
          reject(new Error(`sluice exited before ${what}; stderr:\n${this.#stderr}`))
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`timed out waiting for ${what}; stderr:\n${this.#stderr}`))
      }, timeoutMs)
      // Also poll: the condition may depend on other processes' output.
      const poll = setInterval(check, 100)
      const done = () => {
        clearTimeout(timer)
        clearInterval(poll)
        this.#listeners.delete(check)
      }
      this.#listeners.add(check)
      check()
    })
  }

  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<void> {
    return this.waitFor(() => pattern.test(this.#stderr), `stderr to match ${pattern}`, timeoutMs)
  }

  /** Sends a signal (SIGINT: like Ctrl-C) and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGINT'): Promise<Finished> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal)
    return this.exited
  }

  /** For `finally`: make sure the child is gone. */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL')
  }

  #notify(): void {
    for (const listener of [...this.#listeners]) listener()
  }
}

/** Runs `sluice …` to completion (killed after `timeoutMs`). */
export async function runSluice(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<Finished> {
  const run = new Sluice(args, options.env)
  const timer = setTimeout(() => run.kill(), options.timeoutMs ?? 60_000)
  try {
    return await run.exited
  } finally {
    clearTimeout(timer)
    run.kill()
  }
}

/** Asserts the shape every CLI error must have: one line on stderr, no stack trace. */
export function errorLine(result: Finished): string {
  const lines = result.stderr.trimEnd().split('\n')
  if (lines.length !== 1) throw new Error(`expected one line on stderr, got:\n${result.stderr}`)
  if (/^\s+at /m.test(result.stderr)) throw new Error(`stack trace on stderr:\n${result.stderr}`)
  return lines[0]!
}
