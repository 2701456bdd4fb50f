import type { Plan, PlanNode } from './nodes.ts'

/** What a node contributes to describe() and to the checkpoint fingerprint (no functions, JSON only). */
export function nodeDetails(node: PlanNode): Record<string, unknown> {
  switch (node.kind) {
    case 'source':
      return { type: node.source.type, ...node.source.options }
    case 'parse':
      return { schema: node.schemaName }
    case 'map':
    case 'filter':
    case 'flatMap':
    case 'keyBy':
      return {}
    case 'watermark':
      return {
        field: node.field,
        delayMs: node.delayMs,
        idleTimeoutMs: node.idleTimeoutMs ?? null,
        late: node.late,
      }
    case 'window':
      return { window: node.window, aggregate: node.aggregator.kind, outputMode: node.outputMode }
    case 'dedupe':
      return { withinMs: node.withinMs }
    case 'process':
      return { ttlMs: node.ttlMs ?? null }
    case 'join':
      return { table: node.table.type, ...node.table.options, how: node.how }
    case 'sink':
      return { type: node.sink.type, ...node.sink.options }
  }
}

/** A readable, one-line-per-operator rendering of a plan (`sluice run --dry-run`). */
export function describePlan(plan: Plan): string {
  const lines = [`pipeline ${plan.pipelineId}`]
  for (const node of plan.nodes) {
    const details = Object.entries(nodeDetails(node))
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
      .join(' ')
    lines.push(`  ${node.kind.padEnd(9)} ${node.id}${details ? `  ${details}` : ''}`)
  }
  const limits = plan.recordLimits
  if (limits)
    lines.push(
      `  limits    maxBytes=${limits.maxBytes} maxDepth=${limits.maxDepth} maxFields=${limits.maxFields}`,
    )
  return lines.join('\n')
}
