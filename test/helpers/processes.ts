import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { SLUICE_BIN } from './cli.ts'

/** Pids of live processes whose command line contains `marker` (e.g. a data dir), from /proc. */
export function processesWith(marker: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8')
      const state = /^\S+ \(.*\) (\S)/.exec(readFileSync(`/proc/${entry}/stat`, 'utf8'))?.[1]
      if (cmdline.includes(marker) && state !== 'Z') pids.push(Number(entry))
    } catch {
      // Gone meanwhile.
    }
  }
  return pids
}

/** Environment that makes `sluice start` start its own local broker, not use the test run's shared one. */
export const OWN_BROKER = { KAFKA_BROKERS: '' }

export interface ShellPipeline {
  /** The process group of the shell and every process of its pipeline. */
  readonly pgid: number
  readonly closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/**
 * Runs `sh -c script` in a process group of its own, as a terminal runs a pipeline (`npm start | tee log`):
 * a Ctrl-C is then `process.kill(-pgid, 'SIGINT')`. `$SLUICE` in the script is this Node running bin/sluice.js.
 */
export function shellPipeline(script: string): ShellPipeline {
  const child = spawn('sh', ['-c', script], {
    detached: true,
    stdio: 'ignore',
    env: { ...process.env, ...OWN_BROKER, SLUICE: `${process.execPath} ${SLUICE_BIN}` },
  })
  if (child.pid === undefined) throw new Error('could not start sh')
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code, signal) => resolve({ code, signal }))
  })
  return { pgid: child.pid, closed }
}

/** The broker pids recorded in a local cluster's state file (null when stopped). */
export function brokerPids(kafkaDataDir: string): (number | null)[] {
  const state = JSON.parse(readFileSync(`${kafkaDataDir}/cluster.json`, 'utf8')) as {
    nodes: { pid: number | null }[]
  }
  return state.nodes.map((n) => n.pid)
}
