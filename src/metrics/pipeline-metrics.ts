import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { GroupView } from '../contracts/group-view.ts'
import type { Plan } from '../plan/nodes.ts'
import { LATENCY_BUCKETS_MS } from '../runtime/latency.ts'
import type { BatchProgress } from '../runtime/progress.ts'
import { BucketHistogram } from './bucket-histogram.ts'
import { nodeLabel } from './plan-labels.ts'

const PHASES = ['poll', 'process', 'checkpoint', 'sink', 'total'] as const
const DURATION_BUCKETS_S = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

export interface PipelineMetricsOptions {
  /** Default: a new registry of its own. */
  readonly registry?: Registry
  /** Node.js process metrics (CPU, memory, event loop, GC) under their usual names. Default true. */
  readonly processMetrics?: boolean
}

/**
 * The Prometheus view of running pipelines, built from the engine's events: every metric is labelled with
 * the pipeline id; rates come from the counters (`rate(sluice_input_rows_total[1m])`). Feed it with
 * `observe(progress)` after each batch and `sinkError()` when a sink fails; render `registry.metrics()`.
 */
export class PipelineMetrics {
  readonly registry: Registry
  readonly #sinks = new Map<string, string>()
  readonly #lagPartitions = new Map<string, Set<string>>()
  /** Per pipeline, the label sets of its group series now set (so that moved partitions and gone members go). */
  readonly #groupSeries = new Map<string, { lag: Set<string>; tasks: Set<string> }>()

  readonly #batches: Counter<'pipeline'>
  readonly #replayed: Counter<'pipeline'>
  readonly #inputRows: Counter<'pipeline'>
  readonly #outputRows: Counter<'pipeline' | 'sink'>
  readonly #deadLettered: Counter<'pipeline'>
  readonly #late: Counter<'pipeline'>
  readonly #duplicates: Counter<'pipeline'>
  readonly #sinkErrors: Counter<'pipeline' | 'sink'>
  readonly #inputRate: Gauge<'pipeline'>
  readonly #processedRate: Gauge<'pipeline'>
  readonly #durations: Histogram<'pipeline' | 'phase'>
  readonly #latency: BucketHistogram<'pipeline'>
  readonly #watermark: Gauge<'pipeline'>
  readonly #watermarkDelay: Gauge<'pipeline'>
  readonly #lag: Gauge<'pipeline' | 'partition'>
  readonly #lagBytes: Gauge<'pipeline' | 'partition'>
  readonly #stateRows: Gauge<'pipeline'>
  readonly #stateBytes: Gauge<'pipeline'>
  readonly #groupLag: Gauge<'pipeline' | 'partition' | 'owner'>
  readonly #groupTasks: Gauge<'pipeline' | 'instance'>
  readonly #groupMembers: Gauge<'pipeline'>

  constructor(options: PipelineMetricsOptions = {}) {
    const registry = options.registry ?? new Registry()
    this.registry = registry
    const registers = [registry]
    const pipeline = ['pipeline'] as const
    const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
      new Counter<L>({ name, help, labelNames, registers })
    const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
      new Gauge<L>({ name, help, labelNames, registers })

    this.#batches = counter('sluice_batches_total', 'Committed batches.', pipeline)
    this.#replayed = counter('sluice_replayed_batches_total', 'Batches replayed after a restart.', pipeline)
    this.#inputRows = counter('sluice_input_rows_total', 'Records read from the source.', pipeline)
    this.#outputRows = counter('sluice_output_rows_total', 'Rows committed to the sink.', [
      'pipeline',
      'sink',
    ])
    this.#deadLettered = counter('sluice_dead_lettered_rows_total', 'Records dead-lettered.', pipeline)
    this.#late = counter('sluice_late_rows_total', 'Records behind the watermark.', pipeline)
    this.#duplicates = counter('sluice_duplicate_rows_total', 'Records dropped by dedupe.', pipeline)
    this.#sinkErrors = counter('sluice_sink_errors_total', 'Batches the sink failed to write or commit.', [
      'pipeline',
      'sink',
    ])
    this.#inputRate = gauge(
      'sluice_input_rows_per_second',
      'Input rows per second of wall-clock time, over the last batch and the pause before it.',
      pipeline,
    )
    this.#processedRate = gauge(
      'sluice_processed_rows_per_second',
      'Input rows per second of the duration of the last batch.',
      pipeline,
    )
    this.#durations = new Histogram({
      name: 'sluice_batch_duration_seconds',
      help: 'Time per batch and phase (poll, process, checkpoint, sink, total).',
      labelNames: ['pipeline', 'phase'],
      buckets: DURATION_BUCKETS_S,
      registers,
    })
    this.#latency = new BucketHistogram({
      name: 'sluice_end_to_end_latency_seconds',
      help: 'Per input record: its source timestamp (Kafka: producer time) to the commit of its batch.',
      labelNames: pipeline,
      buckets: LATENCY_BUCKETS_MS.map((ms) => ms / 1000),
      registers,
    })
    this.#watermark = gauge(
      'sluice_watermark_seconds',
      'The watermark of the last batch, Unix seconds.',
      pipeline,
    )
    this.#watermarkDelay = gauge(
      'sluice_watermark_delay_seconds',
      'How far the watermark trailed the wall clock when the last batch finished (negative: ahead of it).',
      pipeline,
    )
    this.#lag = gauge('sluice_consumer_lag_records', 'Records still to read per source partition.', [
      'pipeline',
      'partition',
    ])
    this.#lagBytes = gauge(
      'sluice_source_lag_bytes',
      'Bytes still to read per source partition, for sources whose positions are bytes (files).',
      ['pipeline', 'partition'],
    )
    this.#stateRows = gauge('sluice_state_rows', 'Keys held in operator state.', pipeline)
    this.#stateBytes = gauge('sluice_state_bytes', 'Size of the state store (state.db) on disk.', pipeline)

    this.#groupLag = gauge(
      'sluice_group_partition_lag_records',
      "Records the pipeline's consumer group still has to read per input partition (log end minus the group's committed offset), labelled with the instance that owns the partition (none while nobody does).",
      ['pipeline', 'partition', 'owner'],
    )
    this.#groupTasks = gauge(
      'sluice_group_tasks',
      "Tasks (input partitions) assigned to each instance in the pipeline's consumer group.",
      ['pipeline', 'instance'],
    )
    this.#groupMembers = gauge(
      'sluice_group_members',
      "Instances in the pipeline's consumer group.",
      pipeline,
    )

    if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry })
  }

  /** Names the pipeline's sink and starts its counters at zero, so they exist before the first batch. */
  describe(plan: Plan): void {
    const id = plan.pipelineId
    const sink = plan.nodes.at(-1)
    this.#sinks.set(id, sink ? nodeLabel(sink) : 'sink')
    const labels = { pipeline: id }
    for (const c of [this.#batches, this.#inputRows, this.#deadLettered, this.#late, this.#duplicates]) {
      c.inc(labels, 0)
    }
    this.#outputRows.inc(this.#sinkLabels(id), 0)
    this.#sinkErrors.inc(this.#sinkLabels(id), 0)
  }

  observe(progress: BatchProgress): void {
    const id = progress.pipelineId
    if (!this.#sinks.has(id)) this.#sinks.set(id, 'sink')
    const labels = { pipeline: id }
    this.#batches.inc(labels)
    if (progress.replayed) this.#replayed.inc(labels)
    this.#inputRows.inc(labels, progress.inputRows)
    this.#outputRows.inc(this.#sinkLabels(id), progress.outputRows)
    this.#deadLettered.inc(labels, progress.deadLetteredRows)
    this.#late.inc(labels, progress.lateRows)
    this.#duplicates.inc(labels, progress.duplicateRows)
    this.#inputRate.set(labels, progress.inputRowsPerSecond)
    this.#processedRate.set(labels, progress.processedRowsPerSecond)
    for (const phase of PHASES) {
      this.#durations.observe({ pipeline: id, phase }, progress.durationMs[phase] / 1000)
    }
    if (progress.latency) {
      this.#latency.add(labels, progress.latency.buckets, progress.latency.sumMs / 1000)
    }
    if (progress.watermark !== null) {
      const watermark = Date.parse(progress.watermark)
      this.#watermark.set(labels, watermark / 1000)
      this.#watermarkDelay.set(labels, (Date.parse(progress.timestamp) - watermark) / 1000)
    }
    if (progress.sourceLag)
      this.#setLag(id, progress.sourceUnit === 'bytes' ? this.#lagBytes : this.#lag, progress.sourceLag)
    this.#stateRows.set(labels, progress.stateRows)
    this.#stateBytes.set(labels, progress.stateBytes)
  }

  /**
   * The pipeline's group as the broker last showed it: one lag series per partition (its owner a label, so a
   * moved partition replaces its series) and one task count per member; those no longer shown are removed,
   * which bounds the series by the partitions and the members of the moment. A view that failed to refresh
   * keeps its series.
   */
  group(pipelineId: string, view: GroupView): void {
    if (view.error !== null) return
    const previous = this.#groupSeries.get(pipelineId) ?? { lag: new Set<string>(), tasks: new Set<string>() }
    const current = { lag: new Set<string>(), tasks: new Set<string>() }
    for (const p of view.partitions) {
      const labels = { pipeline: pipelineId, partition: p.partition, owner: p.owner ?? 'none' }
      this.#groupLag.set(labels, p.lag)
      current.lag.add(JSON.stringify([p.partition, labels.owner]))
    }
    for (const m of view.members) {
      this.#groupTasks.set({ pipeline: pipelineId, instance: m.instance }, m.partitions.length)
      current.tasks.add(m.instance)
    }
    for (const key of previous.lag) {
      if (current.lag.has(key)) continue
      const [partition, owner] = JSON.parse(key) as [string, string]
      this.#groupLag.remove({ pipeline: pipelineId, partition, owner })
    }
    for (const instance of previous.tasks)
      if (!current.tasks.has(instance)) this.#groupTasks.remove({ pipeline: pipelineId, instance })
    this.#groupMembers.set({ pipeline: pipelineId }, view.members.length)
    this.#groupSeries.set(pipelineId, current)
  }

  sinkError(pipelineId: string): void {
    this.#sinkErrors.inc(this.#sinkLabels(pipelineId))
  }

  #sinkLabels(pipelineId: string) {
    return { pipeline: pipelineId, sink: this.#sinks.get(pipelineId) ?? 'sink' }
  }

  /** Partitions no longer reported (revoked from this instance) are removed, not left at a stale value. */
  #setLag(
    pipelineId: string,
    gauge: Gauge<'pipeline' | 'partition'>,
    lag: Readonly<Record<string, number>>,
  ): void {
    const previous = this.#lagPartitions.get(pipelineId) ?? new Set<string>()
    const current = new Set(Object.keys(lag))
    for (const partition of previous) {
      if (!current.has(partition)) gauge.remove({ pipeline: pipelineId, partition })
    }
    for (const [partition, value] of Object.entries(lag)) {
      gauge.set({ pipeline: pipelineId, partition }, value)
    }
    this.#lagPartitions.set(pipelineId, current)
  }
}
