import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const SLUICE_BIN = fileURLToPath(new URL('../../bin/sluice.js', import.meta.url))

export interface CliResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** A `sluice …` process left running: its stderr so far, and its exit code once it exits. */
export interface RunningCli {
  readonly child: ChildProcess
  /** Everything it wrote to stderr until now. */
  readonly stderr: string
  readonly exited: Promise<number | null>
}

/** Starts `sluice …` with the test's Node, stdout ignored, and returns at once (see RunningCli). */
export function startCli(args: readonly string[]): RunningCli {
  const child = spawn(process.execPath, [SLUICE_BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return {
    child,
    get stderr() {
      return stderr
    },
    exited,
  }
}

/** Runs `sluice …` in a child process with the test's Node and returns its exit code and output. */
export function runCli(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CliResult> {
  return runNode(SLUICE_BIN, args, options)
}

/** Runs `sluice …` with these Node flags (e.g. `--import` a preload) before the script. */
export function runNodeWith(
  nodeFlags: readonly string[],
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CliResult> {
  return runNode(SLUICE_BIN, args, { ...options, nodeFlags })
}

/** Runs a script in a child process with the test's Node and returns its exit code and output. */
export function runNode(
  script: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; nodeFlags?: readonly string[] } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(options.nodeFlags ?? []), script, ...args], {
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString()
    })
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}
