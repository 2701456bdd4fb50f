import { nodeDetails } from '../plan/describe.ts'
import type { Plan } from '../plan/nodes.ts'

/** The parts of a plan a checkpoint depends on: the source and every operator that keeps state or time. */
export interface PlanFingerprint {
  readonly pipelineId: string
  readonly source: Readonly<Record<string, unknown>>
  readonly operators: readonly {
    readonly id: string
    readonly kind: string
    readonly details: Record<string, unknown>
  }[]
}

const STATEFUL = new Set(['watermark', 'window', 'dedupe', 'process', 'keyBy'])

export function fingerprint(plan: Plan): PlanFingerprint {
  const source = plan.nodes.find((n) => n.kind === 'source')
  return {
    pipelineId: plan.pipelineId,
    source:
      source?.kind === 'source'
        ? { type: source.source.type, ...(source.source.identity ?? source.source.options) }
        : {},
    operators: plan.nodes
      .filter((n) => STATEFUL.has(n.kind))
      .map((n) => ({ id: n.id, kind: n.kind, details: n.kind === 'keyBy' ? {} : nodeDetails(n) })),
  }
}

/** Human-readable differences between the checkpoint's fingerprint and the current plan's; empty when compatible. */
export function incompatibilities(stored: PlanFingerprint, current: PlanFingerprint): string[] {
  const out: string[] = []
  if (stored.pipelineId !== current.pipelineId) {
    out.push(`pipeline id changed from "${stored.pipelineId}" to "${current.pipelineId}"`)
  }
  const storedSource = JSON.stringify(stored.source)
  const currentSource = JSON.stringify(current.source)
  if (storedSource !== currentSource) out.push(`source changed from ${storedSource} to ${currentSource}`)
  const before = new Map(stored.operators.map((o) => [o.id, o]))
  const after = new Map(current.operators.map((o) => [o.id, o]))
  for (const [id, op] of before) {
    const now = after.get(id)
    if (!now) out.push(`stateful step "${id}" (${op.kind}) was removed or renamed`)
    else if (now.kind !== op.kind) out.push(`step "${id}" changed kind from ${op.kind} to ${now.kind}`)
    else {
      for (const key of new Set([...Object.keys(op.details), ...Object.keys(now.details)])) {
        const a = JSON.stringify(op.details[key])
        const b = JSON.stringify(now.details[key])
        if (a !== b) out.push(`step "${id}" (${op.kind}): ${key} changed from ${a} to ${b}`)
      }
    }
  }
  for (const [id, op] of after) if (!before.has(id)) out.push(`stateful step "${id}" (${op.kind}) was added`)
  return out
}
