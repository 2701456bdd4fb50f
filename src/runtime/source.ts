import type { GroupViewReader } from '../contracts/group-view.ts'
import type { Plan } from '../plan/nodes.ts'

/**
 * The source contract. A source is a set of partitions, each an ordered log with numeric positions, so that a
 * batch can be named by its start and end position per partition and replayed exactly after a crash.
 */

/** A record as a source hands it to the engine, before parsing. */
export interface SourceRecord {
  /** Stable partition name, e.g. "events:3" for Kafka or a file path for files(). */
  readonly partition: string
  /** Position within the partition; the next record's position is greater. */
  readonly offset: number
  readonly key: Buffer | string | null | undefined
  /** Raw bytes or text for byte sources; an object for in-process sources (generator, test driver). */
  readonly value: Buffer | string | object | null | undefined
  /** Broker/file timestamp in ms, used when no event-time field is declared. */
  readonly timestamp: number
  /** The record's headers (Kafka), name → value as they arrived; step functions read them as RecordMeta. */
  readonly headers?: ReadonlyMap<Buffer | string, Buffer | string | null | undefined>
  /**
   * Set by a source that could not decode the record (a malformed CSV row): the runtime dead-letters it with
   * this reason (operator "source") before any step sees it; `value` is then the raw input.
   */
  readonly invalid?: string
  /**
   * How far the record moves its partition along, in the source's `lagUnit` (bytes for files(): from this
   * record's start to the next one's); 1 when absent, as for sources that count records.
   */
  readonly size?: number
}

/** What a source's lag and progress count: records (Kafka offsets, rows), or bytes (positions in files). */
export type LagUnit = 'records' | 'bytes'

/** Next position to read, per partition. */
export type Positions = Readonly<Record<string, number>>

export interface PollOptions {
  readonly maxRecords: number
  readonly maxBytes: number
  /** How long to wait for more once the first record arrived. */
  readonly lingerMs: number
  /** Give up waiting for a first record after this long (an empty poll lets time advance). */
  readonly idleMs: number
  /** When replaying a batch after a crash: stop each partition exactly here. */
  readonly until?: Positions
  /**
   * Keep reading past the linger until each partition has been read up to here (within maxRecords and a
   * bounded wait): a processing-time batch covers what was in the log when its trigger fired, not only what
   * the client happened to have buffered. Records beyond it may come along; none are held back.
   */
  readonly upTo?: Positions
  readonly signal?: AbortSignal
}

export interface SourceReader {
  /** Human-readable, for progress and errors. */
  readonly description: string
  /**
   * Opens the source. `resumeFrom` comes from the checkpoint; without it the source starts where its own
   * options say (a consumer group's committed offsets, the beginning of the files, …).
   */
  open(resumeFrom: Positions | undefined, options?: SourceOpenOptions): Promise<void>
  /** This instance's name among the pipeline's instances (static group membership), when it has one. */
  readonly instance?: string
  /**
   * The records of the last poll() are committed or abandoned. A scaled-out source moves a partition to
   * another instance only after the batch that read it finished, so no two instances have its records in
   * flight at once.
   */
  finishedBatch?(): void
  poll(options: PollOptions): Promise<SourceRecord[]>
  /**
   * True when the source itself ends (files in batch mode, Kafka with endingOffsets: 'latest'). Reading a
   * bounded source to its end ends the input: the watermark goes to +Infinity and every open window and
   * session is emitted, so a batch run writes what a stream over the same records writes. (availableNow
   * over an unbounded source only stops: its open windows wait in the checkpoint for the next run.)
   */
  readonly bounded: boolean
  /**
   * The positions that count as "the end" for a bounded run (availableNow or a bounded source): the log end
   * when first asked, then the same answer for the rest of the run.
   */
  endPositions(): Promise<Positions>
  /** The current end of every partition (what a batch planned now should cover), for PollOptions.upTo. */
  latestPositions?(): Promise<Positions>
  /**
   * For sources whose positions can skip (Kafka transaction markers occupy offsets no record carries):
   * whether everything up to `end` has been read, even though the last record's position is below it.
   */
  caughtUp?(end: Positions): boolean
  /**
   * Partitions with unread records that have delivered none yet in this run: their event times are unknown,
   * so they hold the watermark back (until the idle timeout, when one is set).
   */
  pendingPartitions?(): ReadonlySet<string>
  /**
   * Of `partitions`, those with records this reader has not delivered yet, as far as it can tell now (a
   * backlog, a file not read to its end). The runtime asks only about partitions that have been quiet for
   * the watermark's idle timeout: one it names is behind, not idle, and the clock never moves the watermark
   * past it. A source without it counts quiet partitions as idle.
   */
  unread?(partitions: readonly string[]): Promise<ReadonlySet<string>>
  /** Positions still to read per partition (lag), when the source can tell, in `lagUnit`. */
  lag?(): Promise<Readonly<Record<string, number>> | undefined>
  /** The unit of lag() and of records' `size`; default 'records'. */
  readonly lagUnit?: LagUnit
  /**
   * How often the runtime may ask lag(): default every 5 s (it may cost the source requests); 0 after every
   * batch, for a source that knows it in memory.
   */
  readonly lagIntervalMs?: number
  /** A scaled-out source (SourceOpenOptions.scaleOut): the partitions this instance owns now. */
  ownedPartitions?(): ReadonlySet<string>
  /**
   * A scaled-out source: where this instance's current assignment of an owned partition started (the
   * position the sink committed for it) and which assignment it is; undefined until the partition is
   * positioned. A task serves one assignment: a partition revoked and given back gets a new id.
   */
  assignment?(partition: string): PartitionAssignment | undefined
  /** How many partitions the input has, and a partition's number among them (a task's changelog partition). */
  partitioning?(): Promise<{ readonly count: number; readonly numberOf: (partition: string) => number }>
  /**
   * A scaled-out source, for a batch that runs tasks of `partitions` without records of theirs: keeps the
   * current assignment until finishedBatch() (as a poll that returned records does) and returns those of
   * `partitions` whose unchanged positions the sink can commit under this instance's membership (a record
   * was read from them in their current assignment). Empty when a revocation is already under way.
   */
  holdBatch?(partitions: readonly string[]): ReadonlySet<string>
  /** Acknowledge a finished batch outside any transaction (e.g. commit a consumer group's offsets). */
  acknowledge?(next: Positions, records: readonly SourceRecord[]): Promise<void>
  close(): Promise<void>
}

/** One assignment of a partition to this instance (SourceReader.assignment). */
export interface PartitionAssignment {
  readonly start: number
  readonly id: number
}

export interface SourceOpenOptions {
  /**
   * The pipeline runs as several instances sharing this source's partitions (a stateless plan whose sink
   * commits the source's positions with its output, e.g. a Kafka transaction with the group's offsets).
   * `resumeFrom` is ignored: each partition starts where the sink committed it, read when the partition is
   * assigned (it may move between instances while they run), and partitions move cooperatively.
   */
  readonly scaleOut?: boolean
}

/** What a source declaration in a plan carries: a name for describe() and a factory for the runtime. */
export interface SourceSpec<T = unknown> {
  readonly type: string
  /** JSON-able options for describe() and checkpoint compatibility checks. */
  readonly options: Readonly<Record<string, unknown>>
  /** The options that decide which data a checkpoint's positions refer to (topics, paths); all options if omitted. */
  readonly identity?: Readonly<Record<string, unknown>>
  /**
   * The source can share its partitions among the instances of a pipeline (a consumer group): each instance
   * reads the partitions assigned to it, and a partition starts where the sink's commit left it when it is
   * assigned (see SourceOpenOptions.scaleOut).
   */
  readonly scalesOut?: boolean
  create(context: SourceContext): SourceReader
  /**
   * A source that reads through a consumer group: a reader of the group's view (members, their partitions,
   * the group's lag per partition) for the dashboard and /metrics, apart from any run.
   */
  groupView?(pipelineId: string): GroupViewReader
  /** Phantom: the type of values the source yields (Buffer for Kafka, objects for in-process sources). */
  readonly __value?: T
}

export interface SourceContext {
  readonly pipelineId: string
  /** The plan being run (a consumer-group source shows it to the group's other members). */
  readonly plan?: Plan
  /** Injected clock: tests drive time by hand. */
  readonly now: () => number
  /** This process's name among the pipeline's instances (RunOptions.instance), when given. */
  readonly instance?: string
}
