import { hostname } from 'node:os'
import { join } from 'node:path'
import { Checkpoint, watermarkFromLog } from '../checkpoint/checkpoint.ts'
import type { TasksReport } from '../contracts/group-view.ts'
import type { Logger } from '../log.ts'
import type { LookupTable, Plan, SinkNode, SourceNode } from '../plan/nodes.ts'
import { outputRowType } from '../plan/row-type.ts'
import { CommitProtocol } from './commit-protocol.ts'
import { PartitionGate } from './partition-gate.ts'
import { BatchProcessor } from './processor.ts'
import { planRecovery, type Replay } from './recovery.ts'
import type { Clock, RunOptions } from './run-options.ts'
import { scaleOutBlockers } from './scale-out.ts'
import { openSink, type SinkWriter } from './sink.ts'
import type { Positions, SourceReader } from './source.ts'
import { TaskManager } from './task-manager.ts'

/**
 * What one attempt at a run has opened, filled in as set-up goes: dispose() closes it however far set-up
 * got, so a failed attempt leaves nothing open behind it.
 */
export class RunResources {
  checkpoint: Checkpoint | undefined
  source: SourceReader | undefined
  sink: SinkWriter<unknown> | undefined
  readonly tables: LookupTable[] = []
  tasks: TaskManager | undefined

  async dispose(): Promise<void> {
    this.tasks?.close()
    await this.sink?.close().catch(() => {})
    await this.source?.close().catch(() => {})
    for (const table of this.tables) await table.close?.().catch(() => {})
    this.checkpoint?.close()
  }
}

/** Everything the batch loop works with, opened and positioned from the checkpoint and the sink. */
export interface RunSetup {
  readonly processor: BatchProcessor
  readonly source: SourceReader
  readonly tables: readonly LookupTable[]
  /** A scaled-out stateful run's tasks (undefined otherwise: one processor runs the whole input). */
  readonly tasks: TaskManager | undefined
  /** A sink with a position per partition in its own database: each new assignment starts where it is. */
  readonly gate: PartitionGate | undefined
  /** Steps that fetch before they decode (a schema registry's schemas by id), once per batch. */
  readonly preparers: readonly ((values: readonly unknown[]) => Promise<void>)[]
  readonly commits: CommitProtocol
  /** Batches recovery re-reads first, in order. */
  readonly replays: Replay[]
  /** Where reading goes on, the next batch's id and the watermark in force. */
  readonly position: Positions
  readonly batchId: number
  readonly watermark: number
}

/**
 * Opens a run: the checkpoint, the processor and its tables, the source and the sink (whose contract says
 * whether instances may share the source's partitions), the tasks of a scaled-out stateful run, and the
 * recovery plan that says where reading starts and which batches are replayed first.
 */
export async function setUpRun(
  plan: Plan,
  options: RunOptions,
  context: { readonly logger: Logger; readonly clock: Clock; readonly opened: RunResources },
): Promise<RunSetup> {
  const { logger, clock, opened } = context
  // A plan that can run as several instances sharing the source's partitions: its keyed state lives in
  // per-task stores and changelog topics (TaskManager), not in the checkpoint.
  const shareable = scaleOutBlockers(plan).length === 0
  const checkpointDir = options.checkpoint ?? join('data', 'checkpoints', plan.pipelineId)
  const checkpoint = await Checkpoint.open(checkpointDir, plan, { state: !shareable })
  opened.checkpoint = checkpoint
  const processor = new BatchProcessor(plan, {
    ...(options.taps ? { taps: options.taps } : {}),
    ...(checkpoint.stateDatabase ? { database: checkpoint.stateDatabase } : {}),
    ...(options.stateCacheEntries !== undefined ? { stateCacheEntries: options.stateCacheEntries } : {}),
  })
  for (const node of processor.tableNodes()) {
    const table = await node.table.load(options.signal ? { signal: options.signal } : {})
    opened.tables.push(table)
    processor.setTable(node.id, table)
  }
  const source = sourceNode(plan).source.create({
    pipelineId: plan.pipelineId,
    plan,
    now: () => clock.now(),
    ...(options.instance !== undefined ? { instance: options.instance } : {}),
  })
  opened.source = source
  const sink = sinkNode(plan).sink.create()
  opened.sink = sink
  const contract = await openSink(sink, {
    pipelineId: plan.pipelineId,
    source,
    rowType: outputRowType(plan),
    ...(shareable ? { instance: source.instance ?? hostname() } : {}),
  })
  // ... when the sink commits the source's positions with its output, so that every instance knows at
  // assignment where a partition's committed output ends.
  const scaleOut =
    shareable &&
    contract.guarantee === 'exactly-once' &&
    (contract.commitsSourceOffsets || contract.partitionPositions !== undefined)
  const gate =
    scaleOut && !contract.commitsSourceOffsets && contract.partitionPositions
      ? new PartitionGate(contract.partitionPositions, source)
      : undefined
  if (shareable && processor.hasState) {
    if (!scaleOut || !contract.changelog)
      throw new Error(`internal: ${sink.description} cannot carry the state of a scaled-out pipeline`)
    opened.tasks = new TaskManager({
      plan,
      source,
      changelog: contract.changelog,
      ...(gate ? { sinkPositions: (partitions: readonly string[]) => gate.positions(partitions) } : {}),
      directory: join(checkpointDir, 'tasks'),
      tables: new Map(processor.tableNodes().map((n, i) => [n.id, opened.tables[i]!])),
      localCommitMs: options.stateCommitIntervalMs ?? 1000,
      ...(options.taps ? { taps: options.taps } : {}),
      logger,
      now: () => clock.now(),
      ...(options.stateCacheEntries !== undefined ? { stateCacheEntries: options.stateCacheEntries } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onTasks ? { onTasks: reportTasks(plan.pipelineId, options.onTasks) } : {}),
    })
  }
  const tasks = opened.tasks
  const preparers = plan.nodes.flatMap((node) =>
    node.kind === 'parse' && node.prepare ? [node.prepare] : [],
  )

  const { committed, replays, fromSink, sinkKeepsPosition } = await planRecovery(checkpoint, sink, contract, {
    pipelineId: plan.pipelineId,
    stateful: processor.hasState,
    scaleOut,
    logger,
    now: () => clock.now(),
  })
  let watermark = Number.NEGATIVE_INFINITY
  // The store's newest state (-1: empty); the batches after it are replayed first.
  const stateSavedThrough = fromSink ? -1 : (checkpoint.stateDatabase?.latestBatch ?? -1)
  const eventTimes = fromSink ? {} : { ...checkpoint.loadState(stateSavedThrough, processor.states) }
  if (committed) watermark = watermarkFromLog(committed.watermark)
  processor.watermarks.restore({ watermark, partitions: eventTimes }, clock.now())

  const first = replays[0]?.entry
  const position: Positions = first?.start ?? committed?.end ?? {}
  const batchId = first?.batchId ?? (committed ? committed.batchId + 1 : 0)
  await source.open(Object.keys(position).length > 0 ? position : undefined, { scaleOut })
  await tasks?.prepare()
  const commits = new CommitProtocol(
    {
      checkpoint,
      sink,
      contract,
      source,
      processor,
      sinkKeepsPosition,
      stateSavedThrough,
      lastBatchId: batchId - 1,
    },
    {
      stateCommitMs: options.stateCommitIntervalMs ?? 1000,
      logger,
      onSinkError: (error, id) => options.onSinkError?.(error, { pipelineId: plan.pipelineId, batchId: id }),
    },
  )
  return {
    processor,
    source,
    tables: opened.tables,
    tasks,
    gate,
    preparers,
    commits,
    replays,
    position,
    batchId,
    watermark,
  }
}

function sourceNode(plan: Plan): SourceNode {
  const node = plan.nodes[0]
  if (node?.kind !== 'source') throw new Error('internal: a plan starts with its source')
  return node
}

function sinkNode(plan: Plan): SinkNode {
  const node = plan.nodes.at(-1)
  if (node?.kind !== 'sink') throw new Error('internal: a plan ends with its sink')
  return node
}

/** The TaskManager's task states as the group view's report of this process. */
function reportTasks(
  pipelineId: string,
  onTasks: (report: TasksReport) => void,
): (tasks: Readonly<Record<string, TasksReport['tasks'][string]>>) => void {
  const host = hostname()
  return (tasks) => onTasks({ pipelineId, host, pid: process.pid, tasks })
}
