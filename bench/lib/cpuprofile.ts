/** Summarises a V8 .cpuprofile (node --cpu-prof): self time per function and per file. */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

interface ProfileNode {
  readonly id: number
  readonly callFrame: {
    readonly functionName: string
    readonly url: string
    readonly lineNumber: number
    readonly columnNumber: number
  }
  readonly hitCount?: number
  readonly children?: readonly number[]
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[]
  readonly startTime: number
  readonly endTime: number
  readonly samples: readonly number[]
  readonly timeDeltas: readonly number[]
}

export interface SelfTimeEntry {
  /** "file:function:line" for code, or the V8 pseudo-function: (garbage collector), (program), … */
  readonly name: string
  readonly selfMs: number
  /** Share of the busy time (all samples except (idle)). */
  readonly percent: number
}

export interface ProfileSummary {
  readonly file: string
  readonly totalMs: number
  readonly busyMs: number
  readonly idleMs: number
  readonly topFunctions: readonly SelfTimeEntry[]
  readonly topFiles: readonly SelfTimeEntry[]
  /** Self time by area: the engine (src/), zod, the Kafka client, Node internals, V8 (GC, program). */
  readonly byArea: readonly SelfTimeEntry[]
  /**
   * Inclusive time (self + everything called synchronously from it) of the engine's and the pipeline's own
   * functions (src/ and bench/): which step of a batch the busy time belongs to.
   */
  readonly topInclusive: readonly SelfTimeEntry[]
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

function shortUrl(url: string): string {
  if (!url) return ''
  let path = url.startsWith('file://') ? fileURLToPath(url) : url
  if (path.startsWith(ROOT)) path = path.slice(ROOT.length)
  return path.replace(/^node_modules\//, '')
}

function area(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? `V8 ${functionName}` : 'V8 builtins / native'
  // The only WebAssembly in these processes: the Kafka client's lz4 and crc32c.
  if (url.startsWith('wasm://')) return '@platformatic/wasm-utils (lz4, crc32c)'
  const path = shortUrl(url)
  if (path.startsWith('node:')) return 'Node internals'
  if (path.startsWith('zod/')) return 'zod'
  if (path.startsWith('@platformatic/kafka/')) return '@platformatic/kafka'
  if (path.startsWith('src/')) return `engine ${path.split('/').slice(0, 2).join('/')}`
  if (path.startsWith('bench/')) return 'bench (the pipeline’s own functions)'
  return path.split('/')[0] ?? path
}

function top(map: Map<string, number>, busyMs: number, n: number): SelfTimeEntry[] {
  return [...map]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, ms]) => ({
      name,
      selfMs: Math.round(ms),
      percent: Math.round((ms / Math.max(1, busyMs)) * 1000) / 10,
    }))
}

export function summariseProfile(file: string, n = 10): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  // timeDeltas[i] is the time between sample i-1 and sample i: it belongs to the sample taken at its end.
  const selfMs = new Map<number, number>()
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!
    const delta = (profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0) / 1000
    selfMs.set(id, (selfMs.get(id) ?? 0) + delta)
  }
  const functions = new Map<string, number>()
  const files = new Map<string, number>()
  const areas = new Map<string, number>()
  let idleMs = 0
  let totalMs = 0
  for (const [id, ms] of selfMs) {
    const node = byId.get(id)
    if (!node) continue
    totalMs += ms
    const { functionName, url, lineNumber } = node.callFrame
    if (functionName === '(idle)') {
      idleMs += ms
      continue
    }
    const path = shortUrl(url)
    const name = path
      ? `${path}:${functionName || '(anonymous)'}:${lineNumber + 1}`
      : functionName || '(native)'
    functions.set(name, (functions.get(name) ?? 0) + ms)
    const fileKey = path || functionName || '(native)'
    files.set(fileKey, (files.get(fileKey) ?? 0) + ms)
    const areaKey = area(url, functionName)
    areas.set(areaKey, (areas.get(areaKey) ?? 0) + ms)
  }
  const busyMs = totalMs - idleMs

  // Inclusive time: each sample counts once for every distinct function on its stack.
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const ownCode = (url: string) => {
    const path = shortUrl(url)
    return path.startsWith('src/') || path.startsWith('bench/')
  }
  const inclusive = new Map<string, number>()
  for (const [id, ms] of selfMs) {
    const seen = new Set<string>()
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const node = byId.get(at)
      if (!node || !ownCode(node.callFrame.url)) continue
      const { functionName, url, lineNumber } = node.callFrame
      const name = `${shortUrl(url)}:${functionName || '(anonymous)'}:${lineNumber + 1}`
      if (seen.has(name)) continue
      seen.add(name)
      inclusive.set(name, (inclusive.get(name) ?? 0) + ms)
    }
  }
  return {
    file,
    totalMs: Math.round(totalMs),
    busyMs: Math.round(busyMs),
    idleMs: Math.round(idleMs),
    topFunctions: top(functions, busyMs, n),
    topFiles: top(files, busyMs, n),
    byArea: top(areas, busyMs, 12),
    topInclusive: top(inclusive, busyMs, 15),
  }
}

export function profileText(summary: ProfileSummary): string {
  const lines = [
    `CPU profile of the etl workload: ${(summary.totalMs / 1000).toFixed(1)} s sampled, ${(summary.busyMs / 1000).toFixed(1)} s busy, ${(summary.idleMs / 1000).toFixed(1)} s idle (waiting on I/O)`,
    '',
    'Top self time, by function (% of busy time):',
  ]
  for (const e of summary.topFunctions)
    lines.push(`  ${e.percent.toFixed(1).padStart(5)} %  ${String(e.selfMs).padStart(6)} ms  ${e.name}`)
  lines.push('', 'By file:')
  for (const e of summary.topFiles)
    lines.push(`  ${e.percent.toFixed(1).padStart(5)} %  ${String(e.selfMs).padStart(6)} ms  ${e.name}`)
  lines.push('', 'Inclusive time of the engine’s and the pipeline’s functions (self + synchronous callees):')
  for (const e of summary.topInclusive)
    lines.push(`  ${e.percent.toFixed(1).padStart(5)} %  ${String(e.selfMs).padStart(6)} ms  ${e.name}`)
  lines.push('', 'By area:')
  for (const e of summary.byArea)
    lines.push(`  ${e.percent.toFixed(1).padStart(5)} %  ${String(e.selfMs).padStart(6)} ms  ${e.name}`)
  return lines.join('\n')
}
