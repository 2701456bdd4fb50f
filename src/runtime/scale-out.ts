import type { Plan } from '../plan/nodes.ts'

/**
 * Why a plan cannot run as several instances sharing its input; empty when it can. What scales today: a
 * stateless plan (no keyed state, no event time) from a source whose partitions a group shares into a sink
 * that commits the source's positions with its output, so that each instance knows at assignment where a
 * partition's written output ends. Keyed state moves between instances once it lives in changelog topics.
 */
export function scaleOutBlockers(plan: Plan): string[] {
  const blockers: string[] = []
  for (const node of plan.nodes) {
    switch (node.kind) {
      case 'source':
        if (node.source.scalesOut !== true)
          blockers.push(
            `its source (${node.source.type}) is read by one instance: only kafka() shares its partitions`,
          )
        break
      case 'sink':
        if (node.sink.scalesOut !== true)
          blockers.push(
            `its sink (${node.sink.type}) keeps one position for the whole pipeline: only the Kafka sink commits each instance's partitions on their own`,
          )
        break
      case 'window':
      case 'dedupe':
      case 'process':
        blockers.push(
          `step "${node.id}" (${node.kind}) keeps state by key, which does not move between instances yet`,
        )
        break
      case 'watermark':
        blockers.push(`step "${node.id}" declares event time, which each instance would see only in part`)
        break
      default:
        break
    }
  }
  return blockers
}
