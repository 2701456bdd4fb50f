import type { Plan } from '../plan/nodes.ts'

/**
 * Why a plan cannot run as several instances sharing its input; empty when it can. What scales: a plan
 * from a source whose partitions a group shares into a sink that commits the source's positions with its
 * output (so each instance knows at assignment where a partition's written output ends), whose keyed steps
 * keep state by a key that follows the input's partitioning (keyByRecordKey(), or keyBy/dedupe declared
 * `partitioned`): each partition's state then lives in a task that moves with it, through changelog topics.
 * A key of another partitioning needs its records moved to the key's partition first (a repartition topic),
 * which this version does not have. A sink declares whether it carries state changes ('with-state': the Kafka
 * sink to changelog topics in its transaction, PostgreSQL and MariaDB/MySQL to changelog tables in their
 * database transaction) or only positions ('stateless': the lake's Parquet and JSON-lines tables).
 *
 * `connectors: false` leaves out the source and the sink (the test driver replaces both).
 */
export function scaleOutBlockers(plan: Plan, options: { readonly connectors?: boolean } = {}): string[] {
  const connectors = options.connectors ?? true
  const blockers: string[] = []
  let keyedByPartition = false
  for (const node of plan.nodes) {
    switch (node.kind) {
      case 'source':
        if (connectors && node.source.scalesOut !== true)
          blockers.push(
            `its source (${node.source.type}) is read by one instance: only kafka() shares its partitions`,
          )
        break
      case 'sink':
        if (connectors && node.sink.scalesOut === undefined)
          blockers.push(
            node.sink.singleInstance !== undefined
              ? `its sink (${node.sink.type}): ${node.sink.singleInstance}`
              : `its sink (${node.sink.type}) keeps one position for the whole pipeline: the Kafka sink, the PostgreSQL and MariaDB/MySQL sinks and the lake's Parquet and JSON-lines tables (unless scaleOut: false) commit each instance's partitions on their own`,
          )
        else if (connectors && node.sink.scalesOut === 'stateless' && hasState(plan))
          blockers.push(
            `its sink (${node.sink.type}) cannot carry the state of keyed steps to another instance: a scaled-out stateful pipeline writes to Kafka, PostgreSQL or MariaDB/MySQL (its state changes go in the same transaction as the output), from where a stateless pipeline can load another store (the lake among them); as one instance, it writes to this sink as it is`,
          )
        break
      case 'keyBy':
        keyedByPartition = node.partitioned === true
        break
      case 'window':
      case 'process':
        if (!keyedByPartition)
          blockers.push(
            `step "${node.id}" (${node.kind}) keeps state by a key that is not the input's partitioning: use keyByRecordKey(), or declare keyBy(fn, { partitioned: true }) when equal keys always come from one partition (other keys need a repartition, not built yet)`,
          )
        break
      case 'dedupe':
        if (node.partitioned !== true)
          blockers.push(
            `step "${node.id}" (dedupe) keeps state by a key that is not the input's partitioning: declare dedupe(key, within, { partitioned: true }) when duplicates always come from one partition`,
          )
        break
      case 'watermark':
        // Event time travels in the changelog's position markers, which only a plan with keyed state has.
        if (!hasState(plan))
          blockers.push(`step "${node.id}" declares event time, which each instance would see only in part`)
        break
      default:
        break
    }
  }
  return blockers
}

function hasState(plan: Plan): boolean {
  return plan.nodes.some((n) => n.kind === 'window' || n.kind === 'dedupe' || n.kind === 'process')
}
