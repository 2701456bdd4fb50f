import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { isOurProcess } from './process.ts'

/**
 * A cluster can belong to the process that started it for its own run (`sluice start` without --brokers): that
 * process stops it when it ends. Its pid is kept in the cluster file, so that when it was killed before it could,
 * the next start finds a cluster whose owner is gone and takes it over instead of leaving it up for ever.
 */
export function ownerAlive(pid: number): boolean {
  return isOurProcess(pid, 'sluice')
}

/**
 * Sends SIGTERM (the broker's controlled shutdown) to the nodes of the cluster in `dataDir` when this process
 * owns it, without waiting: for a process about to exit at once (a second Ctrl-C). Synchronous on purpose.
 */
export function terminateOwnedNodesNow(dataDir: string): number {
  const file = join(dataDir, 'cluster.json')
  if (!existsSync(file)) return 0
  const state = JSON.parse(readFileSync(file, 'utf8')) as {
    owner?: number
    nodes: readonly { pid: number | null; dir: string }[]
  }
  if (state.owner !== process.pid) return 0
  let signalled = 0
  for (const node of state.nodes) {
    if (node.pid === null || !isOurProcess(node.pid, node.dir)) continue
    process.kill(node.pid, 'SIGTERM')
    signalled++
  }
  return signalled
}
