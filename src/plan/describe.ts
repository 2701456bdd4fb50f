import { createHash } from 'node:crypto'
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
      return {}
    case 'keyBy':
      return {
        ...(node.fromRecordKey ? { recordKey: true } : {}),
        ...(node.partitioned ? { partitioned: true } : {}),
      }
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
      return { withinMs: node.withinMs, ...(node.partitioned ? { partitioned: true } : {}) }
    case 'process':
      return { ttlMs: node.ttlMs ?? null }
    case 'join':
      return { table: node.table.type, ...node.table.options, how: node.how }
    case 'sink':
      return { type: node.sink.type, ...node.sink.options }
  }
}

/** A readable, one-line-per-operator rendering of a plan (`sluice run --dry-run`), with its record limits. */
export function describePlan(plan: Plan): string {
  const lines = [`pipeline ${plan.pipelineId}`, ...planSteps(plan).map((line) => `  ${line}`)]
  const limits = plan.recordLimits
  if (limits)
    lines.push(
      `  limits    maxBytes=${limits.maxBytes} maxDepth=${limits.maxDepth} maxFields=${limits.maxFields}`,
    )
  return lines.join('\n')
}

/** One line per step: "kind id  details" (the lines of describePlan). */
export function planSteps(plan: Plan): string[] {
  return plan.nodes.map((node) => {
    const details = Object.entries(nodeDetails(node))
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
      .join(' ')
    return `${node.kind.padEnd(9)} ${node.id}${details ? `  ${details}` : ''}`
  })
}

/**
 * 16 hex digits of the SHA-256 of the pipeline id and its steps as described: what a pipeline's instances
 * compare in its consumer group (src/connectors/kafka/group-plan.ts). Two plans differ when a step, its id, or
 * a detail describe() shows (a window, an aggregate's kind, a source or sink option) differs; the bodies of
 * user functions are not part of it, so a fix inside a map() can be rolled out one instance at a time.
 */
export function planFingerprint(plan: Plan): string {
  const text = [plan.pipelineId, ...planSteps(plan)].join('\n')
  return createHash('sha256').update(text).digest('hex').slice(0, 16)
}
