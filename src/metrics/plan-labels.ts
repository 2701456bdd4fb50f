import type { PlanNode } from '../plan/nodes.ts'
import { formatDuration } from '../window/duration.ts'

/**
 * A short description of what a plan node reads, does or writes, for metric labels and the dashboard's
 * operator graph: "kafka events", "tumbling 1m count", "kafka page-metrics". Only names of topics, tables
 * and paths are shown: connector options may hold connection strings with passwords.
 */
export function nodeLabel(node: PlanNode): string {
  switch (node.kind) {
    case 'source':
      return withTarget(node.source.type, node.source.options)
    case 'sink':
      return withTarget(node.sink.type, node.sink.options)
    case 'parse':
      return node.schemaName
    case 'watermark':
      return `${node.field} − ${formatDuration(node.delayMs)}`
    case 'window': {
      const w = node.window
      const shape =
        w.kind === 'tumbling'
          ? `tumbling ${formatDuration(w.size)}`
          : w.kind === 'hopping'
            ? `hopping ${formatDuration(w.size)} / ${formatDuration(w.slide)}`
            : `session ${formatDuration(w.gap)}`
      return `${shape} · ${node.outputMode}`
    }
    case 'dedupe':
      return `within ${formatDuration(node.withinMs)}`
    case 'process':
      return node.ttlMs === undefined ? 'keyed state' : `keyed state, ttl ${formatDuration(node.ttlMs)}`
    case 'join':
      return `${node.how} ${withTarget(node.table.type, node.table.options)}`
    case 'map':
    case 'filter':
    case 'flatMap':
    case 'keyBy':
      return ''
  }
}

const TARGET_KEYS = ['topics', 'topic', 'table', 'path', 'name'] as const

function withTarget(type: string, options: Readonly<Record<string, unknown>>): string {
  for (const key of TARGET_KEYS) {
    const value = options[key]
    if (typeof value === 'string') return `${type} ${value}`
    if (Array.isArray(value)) return `${type} ${value.join(',')}`
  }
  return type
}
