import type { Checkpoint, OffsetsEntry } from '../checkpoint/checkpoint.ts'
import type { Logger } from '../log.ts'
import { sinkAt } from './positions.ts'
import { type CommittedPosition, type SinkContract, type SinkWriter, sinkAheadOfCheckpoint } from './sink.ts'

/** A batch recovery replays: exactly its logged input, written to the sink or only rebuilding state. */
export interface Replay {
  readonly entry: OffsetsEntry
  readonly write: boolean
}

/** Where a run starts, from what the checkpoint and the sink say. */
export interface RecoveryPlan {
  /** The batch the run continues after: its end is where reading goes on, its watermark the one in force. */
  readonly committed: OffsetsEntry | undefined
  /** Batches to re-read first, in order: rebuilds of committed batches, then the unfinished one. */
  readonly replays: Replay[]
  /** The run starts from the sink's position: nothing of the checkpoint's state or event time applies. */
  readonly fromSink: boolean
  /**
   * A stateless plan into an exactly-once sink that stores its position with the data (a Kafka transaction's
   * group offsets, a SQL offsets row): the offsets log need not be durable before the sink commits, since a
   * lost entry only means the run resumes from the sink.
   */
  readonly sinkKeepsPosition: boolean
}

export interface RecoveryContext {
  readonly pipelineId: string
  /** The plan keeps keyed state (windows, dedupe, process()). */
  readonly stateful: boolean
  /**
   * Instances of the pipeline share the source's partitions (stateless, the sink commits the source's
   * positions): each partition starts where the sink committed it, read by the source at assignment.
   */
  readonly scaleOut?: boolean
  readonly logger: Logger
  readonly now: () => number
}

/**
 * Recovery. A batch the checkpoint has pending is marked when the sink or the state store already has it,
 * rebuilt (replayed without writing) when the sink has it but the state needs it, and replayed exactly
 * otherwise; the committed batches after the store's newest state are rebuilt first.
 *
 * A sink that keeps its position can overrule the checkpoint. A stateless plan resumes where such a sink is
 * whenever that is not where the checkpoint left off (the pending batch's start or end, or the last batch's
 * end): the checkpoint was lost or is an older copy, or another run of the pipeline wrote meanwhile, and
 * replaying the pending batch from its logged start would write again what that run wrote. Otherwise the
 * sink counts only when its batch id is ahead of the checkpoint's, and a plan with state then stops
 * (sinkAheadOfCheckpoint): its state is only in the checkpoint.
 */
export async function planRecovery(
  checkpoint: Checkpoint,
  sink: SinkWriter<unknown>,
  contract: SinkContract,
  context: RecoveryContext,
): Promise<RecoveryPlan> {
  const { logger } = context
  const recovery = await checkpoint.recover()
  let committed = recovery.lastCommitted
  let pending = recovery.pending
  const loggedThrough = pending?.batchId ?? committed?.batchId ?? -1
  const sinkKeepsPosition =
    !checkpoint.stateDatabase &&
    contract.guarantee === 'exactly-once' &&
    contract.storesPositions &&
    sink.committedPosition !== undefined

  if (context.scaleOut) {
    // Nothing to replay: whatever this instance had in flight was aborted or committed, and its partitions
    // may be another instance's now. Batch ids are this instance's own and go on past every id it logged.
    const batchId = loggedThrough
    const committed = { batchId, start: {}, end: {}, watermark: null, batchTime: context.now() }
    return { committed, replays: [], fromSink: true, sinkKeepsPosition: true }
  }

  let fromSink: CommittedPosition | undefined
  /** Whether the sink committed the pending batch, once known. */
  let sinkHasPending: boolean | undefined
  if (sinkKeepsPosition) {
    const position = await sink.committedPosition?.()
    if (position) {
      const at = position.positions
      if (pending && sinkAt(at, pending.end, false)) sinkHasPending = true
      else if (pending && sinkAt(at, pending.start, true)) sinkHasPending = false
      else if (pending || !committed || !sinkAt(at, committed.end, false)) fromSink = position
    }
  } else {
    fromSink = await sinkAheadOfCheckpoint(sink, contract, loggedThrough, {
      pipelineId: context.pipelineId,
      checkpoint: checkpoint.location,
      stateful: context.stateful,
    })
  }
  if (fromSink) {
    logger.warn(
      { batchId: fromSink.batchId, positions: fromSink.positions },
      fromSink.batchId > loggedThrough
        ? 'the checkpoint is behind the sink; starting from the position the sink committed'
        : 'the sink is not where the checkpoint left it (did another run write?); starting from its position',
    )
    // Batch ids keep growing past every id the checkpoint has logged.
    const batchId = Math.max(fromSink.batchId, loggedThrough)
    const positions = fromSink.positions
    committed = { batchId, start: positions, end: positions, watermark: null, batchTime: context.now() }
    return { committed, replays: [], fromSink: true, sinkKeepsPosition }
  }

  if (pending && checkpoint.hasState(pending.batchId)) {
    // State is saved after the sink committed: the batch is complete but for its marker.
    logger.info({ batchId: pending.batchId }, 'the last batch before the crash completed; marking it')
    await checkpoint.commitBatch(pending.batchId)
    committed = pending
    pending = undefined
  }
  const replays: Replay[] = (await checkpoint.committedSinceState(committed?.batchId ?? -1)).map((entry) => ({
    entry,
    write: false,
  }))
  if (pending) {
    const sinkHasIt =
      sinkHasPending ?? (contract.storesPositions && (await sink.hasCommitted?.(pending)) === true)
    if (sinkHasIt && !checkpoint.stateDatabase) {
      logger.info(
        { batchId: pending.batchId },
        'the sink committed the last batch before the crash; marking it',
      )
      await checkpoint.commitBatch(pending.batchId)
      committed = pending
    } else {
      // The sink has it: replay to rebuild its state only. It does not: replay it all, exactly.
      replays.push({ entry: pending, write: !sinkHasIt })
    }
  }
  for (const { entry, write } of replays)
    logger.info(
      { batchId: entry.batchId, start: entry.start, end: entry.end },
      write
        ? 'replaying the unfinished batch'
        : 'replaying a batch the sink committed, to rebuild its state (without writing it)',
    )
  return { committed, replays, fromSink: false, sinkKeepsPosition }
}
