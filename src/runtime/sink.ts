import type { ChangelogRecord, ChangelogStore } from '../contracts/changelog.ts'
import { SluiceError } from '../errors.ts'
import type { RowType } from '../plan/row-type.ts'
import type { Positions, SourceReader, SourceRecord } from './source.ts'

/** A row leaving the pipeline (sink or dead-letter output). */
export interface OutputBatch<T> {
  /** Deterministic: the same batch id always carries the same rows, also when replayed after a crash. */
  readonly batchId: number
  readonly rows: readonly T[]
  readonly deadLetters: readonly DeadLetter[]
  /**
   * State changes of the batch's tasks, for a sink that declared `changelog`: written in the same
   * transaction as the rows and the source's offsets.
   */
  readonly changelog?: readonly ChangelogRecord[]
}

/** A record the pipeline could not process, with everything needed to find and fix it. */
export interface DeadLetter {
  readonly reason: string
  /** Operator that rejected it, e.g. "parse" or "window:page-views". */
  readonly operator: string
  readonly partition: string
  readonly offset: number
  readonly key: string | null
  /** The raw value: bytes as they arrived (base64 for non-UTF-8), or the JSON of an in-process object. */
  readonly raw: Buffer | string | null
  readonly timestamp: number
}

/**
 * What a sink guarantees and where it keeps what recovery needs, declared by the sink as data when it opens
 * (a Kafka sink's guarantee depends on its source). The runtime, not the sink, drives the commit protocol
 * from it: when a write may start, whom to ask after a crash, who acknowledges the source.
 */
export interface SinkContract {
  /**
   * 'exactly-once': a committed batch's rows are visible once, whatever crashes; its write stays invisible
   * until commit(). 'at-least-once': a crash may replay a batch (with the same id and rows), and its write is
   * seen at once.
   */
  readonly guarantee: 'exactly-once' | 'at-least-once'
  /**
   * The sink stores each batch's end positions with its data (an offsets row in the batch's database
   * transaction, a lake log entry, the group's offsets in a Kafka transaction) and answers hasCommitted()
   * (and, where it can name its last batch, committedPosition()) from them: after a crash it, not the
   * checkpoint, says whether a batch landed.
   */
  readonly storesPositions: boolean
  /**
   * The sink's commit also commits the source's own offsets (a Kafka transaction carrying the consumer
   * group's offsets). Otherwise the runtime acknowledges the source once the sink committed (for a Kafka
   * source: the group's offsets, so lag tools see progress).
   */
  readonly commitsSourceOffsets: boolean
  /** Dead letters are stored by the sink with the batch (a topic, a table); otherwise the runtime logs them. */
  readonly storesDeadLetters: boolean
  /**
   * The sink's transactions can carry the state changes of a batch (OutputBatch.changelog) to the changelog
   * this store reads back (Kafka topics for the Kafka sink, tables of its database for PostgreSQL and
   * MariaDB/MySQL): keyed state then moves with its partition between a pipeline's instances.
   */
  readonly changelog?: ChangelogStore
  /**
   * The sink stores each source partition's position in a record of its own and fences on it (see
   * SinkCommitContext.expected): instances of a stateless pipeline then share the source's partitions, each
   * committing its own, and an instance that lost a partition cannot commit it.
   */
  readonly partitionPositions?: PartitionPositionStore
}

/** Where a sink keeps one position per source partition (SinkContract.partitionPositions). */
export interface PartitionPositionStore {
  /**
   * The next position to read of each of `partitions` the sink has committed; absent: none committed. Asked
   * when a partition is assigned: this instance's commits of the partition from then on are fenced when
   * another instance committed it after this read (even without moving its position).
   */
  read(partitions: readonly string[]): Promise<Positions>
}

/**
 * A sink's commit found a partition's stored position other than the instance expected: another instance
 * committed it meanwhile (the partition moved away from this one). Retryable: the run restarts and reads
 * the partitions it owns from where the sink has them.
 */
export class SinkFencedError extends SluiceError {
  constructor(sink: string, partition: string, expected: number | undefined, stored: number | undefined) {
    const say = (p: number | undefined) => (p === undefined ? 'nothing' : `position ${p}`)
    // Equal positions: the other instance committed without moving it (a keyed task closing windows).
    const found =
      stored === expected
        ? `was committed by another instance since this one read it (at ${say(stored)})`
        : `has ${say(stored)} committed where this instance expected ${say(expected)}`
    super(
      'SLUICE_SINK_FENCED',
      `${sink}: partition ${partition} ${found}: ` +
        'another instance of the pipeline took the partition over and committed it; this batch is abandoned',
      { domain: 'external', retryable: true },
    )
  }
}

/**
 * The sink contract, two-phase like the checkpoint it serves:
 * 1. write(batch): make the rows durable but, where the sink can, not yet visible (an open transaction);
 * 2. commit(batch, context): make rows (and, where the contract says so, the positions) visible together.
 * The runtime calls them in the order of the commit protocol (Checkpoint's steps) and acknowledges the
 * source itself: a sink never calls the source.
 */
export interface SinkWriter<T> {
  readonly description: string
  /** Opens the sink and declares its contract. */
  open(context: SinkOpenContext): Promise<SinkContract>
  write(batch: OutputBatch<T>): Promise<void>
  commit(batch: OutputBatch<T>, commit: SinkCommitContext): Promise<void>
  abort?(batch: OutputBatch<T>): Promise<void>
  /**
   * After a crash: did this sink already commit the batch? Required when the contract says the sink
   * stores positions; answered from what it stored with the data.
   */
  hasCommitted?(batch: { readonly batchId: number; readonly end: Positions }): Promise<boolean>
  /**
   * A sink that stores positions and can name its last batch: that batch and the positions after it,
   * undefined before the first (every sink Sluice ships has it). Asked once after open(): a stateless pipeline starts
   * from it whenever it is not where the checkpoint left off (a lost or older checkpoint, another run), so
   * it neither loses nor duplicates rows; a stateful one stops when it is ahead (see planRecovery in
   * recovery.ts and `sinkAheadOfCheckpoint`).
   */
  committedPosition?(): Promise<CommittedPosition | undefined>
  /**
   * The rows of the last written batch the sink could not take, as dead letters with the reason (a row that
   * is not an object, a field name no column can have, a table at its column limit, a value it cannot
   * encode); asked after write(), before commit(). A sink that keeps dead letters itself (a dead-letter
   * table) has stored them with the batch; the others' are sent on by withKafkaDeadLetters or logged. The
   * runtime counts them as dead-lettered and shows them with the pipeline's own.
   */
  rejected?(batch: OutputBatch<T>): readonly DeadLetter[]
  close(): Promise<void>
}

/** Where a sink's last committed batch left the source. */
export interface CommittedPosition {
  readonly batchId: number
  /** Next position to read, per partition. */
  readonly positions: Positions
}

export interface SinkOpenContext {
  readonly pipelineId: string
  /** The pipeline's source: a sink that commits the source's offsets itself (Kafka transactions) needs it. */
  readonly source: SourceReader
  /**
   * The field types the plan declares for the rows reaching the sink (its last parse step's schema, when no
   * step after it builds new values): table sinks take column types from it rather than from the values.
   */
  readonly rowType?: RowType | undefined
  /**
   * Set when this process is one of several instances of the pipeline sharing the source's partitions (a
   * stateless plan over a source that scales out): its name among them. A sink that commits the source's
   * positions in its own transactions keeps one transactional identity per instance, so that instances do
   * not fence each other and a restarted instance fences its predecessor.
   */
  readonly instance?: string | undefined
}

export interface SinkCommitContext {
  /** Next positions once this batch is committed. */
  readonly next: Positions
  /** The batch's input records: a Kafka transaction commits the consumer offsets from them. */
  readonly records: readonly SourceRecord[]
  /**
   * Partitions whose state the batch changed without reading from them (a scaled-out task run because its
   * watermark moved): a sink that commits the source's offsets commits their unchanged positions too, so
   * that an instance whose partitions moved away meanwhile (a zombie) is fenced for such a batch as well.
   */
  readonly heldPartitions?: readonly string[]
  /**
   * For a sink with partitionPositions, in a scaled-out run: for each partition of `records` and of
   * `heldPartitions`, the position this instance believes the sink holds for it (a partition absent here:
   * none), read when the partition was assigned and moved on by each of this instance's commits. The sink
   * commits only when it holds exactly these (and nobody else committed them since), and throws
   * SinkFencedError otherwise.
   */
  readonly expected?: Positions
}

/** The contract of a sink that writes at once and keeps nothing for recovery (console, foreachBatch). */
export const AT_LEAST_ONCE: SinkContract = Object.freeze({
  guarantee: 'at-least-once',
  storesPositions: false,
  commitsSourceOffsets: false,
  storesDeadLetters: false,
})

/** Opens `sink` and checks that its declared contract is one the runtime can keep. */
export async function openSink(sink: SinkWriter<unknown>, context: SinkOpenContext): Promise<SinkContract> {
  const contract = await sink.open(context)
  if (contract.storesPositions && !sink.hasCommitted)
    throw new Error(
      `internal: ${sink.description} declares that it stores positions but cannot say which it committed`,
    )
  return contract
}

export interface SinkSpec<T> {
  readonly type: string
  readonly options: Readonly<Record<string, unknown>>
  /**
   * Exactly-once when several instances of the pipeline share a source's partitions: each instance's commit
   * carries the positions of its own partitions only (scale-out.ts). 'with-state': also the state changes of
   * keyed steps, for their changelog (a Kafka transaction writes them to topics, a PostgreSQL or MariaDB/MySQL
   * transaction to tables of its database); 'stateless': only for plans without state.
   */
  readonly scalesOut?: 'with-state' | 'stateless'
  /**
   * A sink that does not scale out (no scalesOut) may say why, as a clause scaleOutBlockers shows after
   * "its sink (type): "; otherwise it says the sink keeps one position for the whole pipeline.
   */
  readonly singleInstance?: string
  create(): SinkWriter<T>
}

/**
 * The sink's position when it is ahead of the checkpoint: its last committed batch is later than any batch
 * the checkpoint knows (`checkpointBatchId`: the pending batch, else the last committed one, else -1), so
 * the checkpoint was deleted or is an older copy. A stateless pipeline starts from there, neither losing
 * nor duplicating rows. A pipeline with state (windows, dedupe) cannot rebuild it from a source position,
 * and starting there would write wrong aggregates: that is an error saying what to do.
 */
export async function sinkAheadOfCheckpoint(
  sink: SinkWriter<unknown>,
  contract: SinkContract,
  checkpointBatchId: number,
  context: { readonly pipelineId: string; readonly checkpoint: string; readonly stateful: boolean },
): Promise<CommittedPosition | undefined> {
  if (!contract.storesPositions) return undefined
  const position = await sink.committedPosition?.()
  if (!position || position.batchId <= checkpointBatchId) return undefined
  if (!context.stateful) return position
  const where =
    checkpointBatchId < 0
      ? 'has no batch (deleted? a fresh data directory on a used broker?)'
      : `is at batch ${checkpointBatchId} (an older copy?)`
  // A Kafka sink keeps its position as the group's offsets, which sluice reset deletes; a database keeps a row.
  const startOver = contract.commitsSourceOffsets
    ? `run \`sluice reset ${context.pipelineId}\``
    : `delete the pipeline's row of sluice_offsets in the database and run \`sluice reset ${context.pipelineId}\``
  throw new SluiceError(
    'SLUICE_CHECKPOINT_BEHIND_SINK',
    `Pipeline "${context.pipelineId}": ${sink.description} committed batch ${position.batchId}, but the ` +
      `checkpoint ${context.checkpoint} ${where}. Its state (windows, dedupe) is only in the checkpoint and ` +
      'cannot be rebuilt from the position the sink stored. If another run of this pipeline is going on with ' +
      'another checkpoint, stop one of them. Otherwise restore the checkpoint directory, or start over: ' +
      `${startOver} (the output it already wrote stays).`,
    { domain: 'user', exitCode: 2 },
  )
}

/**
 * Starts writing a batch while the checkpoint makes its offsets entry durable. An exactly-once sink's write
 * stays invisible until its commit, so it overlaps that fsync. An at-least-once sink's write is
 * seen at once (foreachBatch, console, Kafka without a Kafka source): it starts only once `durable` resolved,
 * or a crash could plan the same batch id again with other rows after these were seen.
 */
export function startWrite<T>(
  sink: SinkWriter<T>,
  contract: SinkContract,
  batch: OutputBatch<T>,
  durable: Promise<unknown>,
): Promise<void> {
  if (contract.guarantee === 'exactly-once') return Promise.resolve().then(() => sink.write(batch))
  return durable.then(() => sink.write(batch))
}
