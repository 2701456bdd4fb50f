import { readFileSync } from 'node:fs'

/** True when `pid` is alive and its command line contains `marker` (so a recycled pid is never ours). */
export function isOurProcess(pid: number, marker: string): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker)
  } catch {
    // No /proc (macOS): the pid is alive, trust the pid file.
    return true
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Sends SIGTERM, waits up to `graceMs` for exit, then SIGKILL. Resolves to how the process ended. */
export async function terminate(
  pid: number,
  marker: string,
  graceMs: number,
): Promise<'terminated' | 'killed' | 'gone'> {
  if (!isOurProcess(pid, marker)) return 'gone'
  process.kill(pid, 'SIGTERM')
  const deadline = Date.now() + graceMs
  while (Date.now() < deadline) {
    if (!isOurProcess(pid, marker)) return 'terminated'
    await sleep(100)
  }
  try {
    process.kill(pid, 'SIGKILL')
  } catch {
    return 'terminated'
  }
  while (isOurProcess(pid, marker)) await sleep(50)
  return 'killed'
}
