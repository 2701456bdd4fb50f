import { type ChangelogOffsets, type ChangelogStore, changelogTopic } from '../contracts/changelog.ts'
import { SluiceError } from '../errors.ts'
import type { Logger } from '../log.ts'
import type { LookupTable, Plan } from '../plan/nodes.ts'
import type { Positions, SourceReader, SourceRecord } from './source.ts'
import type { Taps } from './tap.ts'
import { Task, type TaskState } from './task.ts'
import { processTasks, type TasksOutput } from './task-batch.ts'

export type { TasksOutput } from './task-batch.ts'

export interface TaskManagerOptions {
  readonly plan: Plan
  readonly source: SourceReader
  readonly changelog: ChangelogStore
  /**
   * A sink that keeps a position per partition in the database that also holds the changelog
   * (PartitionGate.positions): where it has the partitions, asked before their state is read. A task then
   * starts from there rather than from the source's assignment (the consumer group's offset, committed after
   * the database, may be behind it). Without it: the source's assignment (a Kafka transaction commits the
   * group's offsets with the changelog).
   */
  readonly sinkPositions?: (partitions: readonly string[]) => Promise<Positions>
  /** Folder of the tasks' local stores. */
  readonly directory: string
  readonly tables: ReadonlyMap<string, LookupTable>
  readonly stateCacheEntries?: number
  /** How often the tasks' local stores commit (the changelog, not they, makes state durable). */
  readonly localCommitMs: number
  readonly logger: Logger
  readonly now: () => number
  readonly signal?: AbortSignal
  readonly taps?: Taps
  /** Called with every task's state when tasks start restoring, start running or leave (the group view). */
  readonly onTasks?: (tasks: Readonly<Record<string, TaskState>>) => void
}

/** What restoring the tasks a batch needed took. */
export interface RestoreReport {
  readonly tasks: number
  readonly fromLocal: number
  readonly rows: number
  readonly ms: number
}

/**
 * The tasks of one instance of a scaled-out stateful pipeline, as Kafka Streams' TaskManager keeps them:
 * a task per input partition the group assigned here, created and restored when the partition's first
 * records arrive, suspended and closed when the partition moves away. Restores of the partitions one
 * rebalance brings read the changelog once, together.
 */
export class TaskManager {
  readonly #options: TaskManagerOptions
  readonly #tasks = new Map<string, Task>()
  readonly #topics: string[]
  /** Changelog topic → the operator whose state it carries. */
  readonly #operatorOf = new Map<string, string>()
  #numberOf: ((partition: string) => number) | undefined
  #committedAt: number
  #waitingLoggedAt = Number.NEGATIVE_INFINITY

  constructor(options: TaskManagerOptions) {
    this.#options = options
    for (const op of Task.statefulOperators(options.plan))
      this.#operatorOf.set(changelogTopic(options.plan.pipelineId, op), op)
    this.#topics = [...this.#operatorOf.keys()]
    this.#committedAt = options.now()
  }

  /** Creates the changelog topics, partitioned like the input. */
  async prepare(): Promise<void> {
    const partitioning = await this.#options.source.partitioning?.()
    if (!partitioning)
      throw new Error('internal: a scaled-out stateful run needs a source that numbers its partitions')
    this.#numberOf = partitioning.numberOf
    await this.#options.changelog.prepare(this.#topics, partitioning.count)
  }

  get tasks(): ReadonlyMap<string, Task> {
    return this.#tasks
  }

  /**
   * Suspends and closes the tasks whose partition this instance no longer serves: not owned any more, or
   * owned under a newer assignment (revoked and given back: another instance may have moved it on).
   */
  async retain(): Promise<void> {
    const owned = this.#options.source.ownedPartitions?.() ?? new Set<string>()
    const leaving = [...this.#tasks.values()].filter(
      (task) =>
        !owned.has(task.partition) ||
        this.#options.source.assignment?.(task.partition)?.id !== task.assignment,
    )
    if (leaving.length === 0) return
    this.#options.logger.info(
      { suspend: leaving.map((t) => t.partition) },
      `suspending ${leaving.length} task(s): their partitions left this instance`,
    )
    const ends = await this.#ends(leaving, true)
    try {
      for (const task of leaving) {
        this.#tasks.delete(task.partition)
        try {
          task.suspend(ends)
        } finally {
          task.close()
        }
      }
    } finally {
      this.#report()
    }
  }

  /** Tells onTasks each task's state now; a failing listener is no concern of the tasks. */
  #report(): void {
    if (!this.#options.onTasks) return
    const tasks: Record<string, TaskState> = {}
    for (const [partition, task] of this.#tasks) tasks[partition] = task.state
    try {
      this.#options.onTasks(tasks)
    } catch {}
  }

  /**
   * Creates and restores the tasks of the partitions assigned here that have none: every owned partition the
   * source has positioned (so a partition restores when it is assigned, not when its next record comes), and
   * those of `records`.
   */
  async ensure(records: readonly SourceRecord[]): Promise<RestoreReport | undefined> {
    const missing = new Set<string>()
    for (const partition of this.#options.source.ownedPartitions?.() ?? [])
      if (!this.#tasks.has(partition) && this.#options.source.assignment?.(partition)) missing.add(partition)
    for (const r of records) if (!this.#tasks.has(r.partition)) missing.add(r.partition)
    if (missing.size === 0) return undefined
    const started = performance.now()
    const numberOf = this.#numberOf
    if (!numberOf) throw new Error('internal: TaskManager.prepare() not called')
    const restoring = new Map<number, { task: Task; committed: number }>()
    let fromLocal = 0
    /** Where each task starts and from what, for the log: who ran which partition from where. */
    const starts: Record<string, { at: number; from: 'local' | 'changelog'; assignment: number }> = {}
    // Before the state: the sink fences this instance's commits on what it has now.
    const atSink = await this.#options.sinkPositions?.([...missing])
    // Settled, as the restore reads: the previous owner's last commit must be in the ends a local store is
    // compared with (a window it closed in that commit would otherwise be closed here a second time).
    const ends = await this.#options.changelog.endOffsets(this.#topics, [...missing].map(numberOf), {
      settled: true,
    })
    const read = new Set(records.map((r) => r.partition))
    for (const partition of missing) {
      const assignment = this.#options.source.assignment?.(partition)
      if (!assignment) {
        // Revoked while the end offsets were asked: a partition without records in the batch is not held
        // for it (nothing to restore now); one with records is (the revocation waits for the batch).
        if (!read.has(partition)) {
          missing.delete(partition)
          continue
        }
        throw new Error(
          `internal: records of ${partition} before the source says where its assignment started`,
        )
      }
      const task = new Task({
        plan: this.#options.plan,
        partition,
        partitionNumber: numberOf(partition),
        directory: this.#options.directory,
        tables: this.#options.tables,
        assignment: assignment.id,
        now: this.#options.now,
        ...(this.#options.taps ? { taps: this.#options.taps } : {}),
        ...(this.#options.stateCacheEntries !== undefined
          ? { stateCacheEntries: this.#options.stateCacheEntries }
          : {}),
      })
      this.#tasks.set(partition, task)
      const committed = atSink?.[partition] ?? assignment.start
      const local = task.beginRestore(committed, ends)
      if (local) fromLocal++
      else restoring.set(task.partitionNumber, { task, committed })
      starts[partition] = { at: committed, from: local ? 'local' : 'changelog', assignment: assignment.id }
    }
    if (missing.size === 0) return undefined
    let rows = 0
    if (restoring.size > 0) {
      this.#report()
      const restoredTo = await this.#options.changelog.read(
        this.#topics,
        [...restoring.keys()],
        (record) => restoring.get(record.partition)?.task.apply(this.#operatorOf.get(record.topic)!, record),
        this.#options.signal,
      )
      for (const { task, committed } of restoring.values())
        rows += this.#restored(task, committed, restoredTo, atSink !== undefined)
    }
    this.#report()
    const report = { tasks: missing.size, fromLocal, rows, ms: performance.now() - started }
    this.#options.logger.info(
      { restore: { ...report, partitions: [...missing], starts } },
      `restored ${missing.size} task(s) (${fromLocal} from the local store, ${rows} rows from the changelog) in ${Math.round(report.ms)} ms`,
    )
    return report
  }

  /**
   * Finishes a task's restore. With the positions in the sink's database, the position and the changelog are
   * read in two transactions: a commit of the partition between them (an instance that lost it and has not
   * noticed yet) leaves the changelog ahead of the position read first. The sink fences this instance's
   * commits of the partition then anyway; the run restarts and reads both again.
   */
  #restored(task: Task, committed: number, restoredTo: ChangelogOffsets, atSink: boolean): number {
    try {
      return task.restored(committed, this.#topics, restoredTo)
    } catch (error) {
      const ahead = error instanceof SluiceError && error.code === 'SLUICE_CHANGELOG_MISMATCH' && atSink
      if (!ahead || !(task.restoredPosition !== undefined && task.restoredPosition > committed)) throw error
      throw new SluiceError(
        'SLUICE_STATE_MOVED',
        `The state of ${task.partition} moved on while this instance restored it (its changelog covers offset ${task.restoredPosition}, its position was ${committed} a moment before): another instance committed the partition meanwhile. Restoring again.`,
        { domain: 'external', retryable: true, cause: error },
      )
    }
  }

  /**
   * Each task's watermark for the next batch, from its own partition's event time (as Kafka Streams' stream
   * time is per task): a window of a key closes when its partition has moved past it, whoever runs it.
   */
  async watermarks(records: readonly SourceRecord[], endOfInput: boolean): Promise<TaskMarks> {
    const source = this.#options.source
    const now = this.#options.now()
    const pending = source.pendingPartitions?.()
    const marks = new Map<Task, TaskMark>()
    for (const task of this.#tasks.values()) {
      const tracker = task.processor.watermarks
      let watermark: number
      if (endOfInput) watermark = tracker.endOfInput()
      else {
        const own = pending?.has(task.partition) ? new Set([task.partition]) : undefined
        const quiet = tracker.idleCandidates(now, own)
        const unread = quiet.length > 0 ? await source.unread?.(quiet) : undefined
        watermark = tracker.advance(now, own, unread)
      }
      marks.set(task, { watermark, moved: watermark > task.ranUnder })
    }
    // A task whose watermark moved runs without records of its own (its windows close) only where the source
    // keeps its partition for the batch and commits its unchanged position with it, so that an instance that
    // lost the partition meanwhile cannot commit that batch. Otherwise it runs with its next records.
    const read = new Set(records.map((r) => r.partition))
    const idle = [...marks].filter(([t, m]) => m.moved && !read.has(t.partition)).map(([t]) => t.partition)
    const held = idle.length > 0 ? (source.holdBatch?.(idle) ?? new Set<string>()) : new Set<string>()
    const waiting = idle.filter((p) => !held.has(p))
    for (const [task, mark] of marks)
      if (mark.moved && !read.has(task.partition) && !held.has(task.partition))
        marks.set(task, { ...mark, moved: false })
    if (waiting.length > 0 && now - this.#waitingLoggedAt >= 10_000) {
      this.#waitingLoggedAt = now
      this.#options.logger.info(
        { waiting },
        `${waiting.length} task(s) wait to close windows: their partitions cannot be held for a batch now (a revocation under way)`,
      )
    }
    return marks
  }

  /**
   * Runs a batch: each task over its partition's records, under the watermark `watermarkOf` gives it. Tasks
   * without records run too when their watermark moved (an idle timeout), so their windows may close.
   */
  process(
    input: { batchId: number; batchTime: number; records: readonly SourceRecord[] },
    now: number,
    watermarkOf: (task: Task, hasRecords: boolean) => number | undefined,
  ): TasksOutput {
    // ensure() made a task for every partition read.
    return processTasks(this.#tasks, input, now, this.#options.plan.pipelineId, watermarkOf)
  }

  /**
   * After a batch committed (and before the next one writes): the local stores commit about once per
   * `localCommitMs`, with where the changelog ends now, which is where this batch's writes end.
   */
  async afterCommit(): Promise<void> {
    const now = this.#options.now()
    if (now - this.#committedAt < this.#options.localCommitMs || this.#tasks.size === 0) return
    this.#committedAt = now
    const tasks = [...this.#tasks.values()]
    const ends = await this.#ends(tasks)
    for (const task of tasks) task.commitLocal(ends)
  }

  /** A clean stop after the last batch committed: the local stores commit, so a restart needs no restore. */
  async suspendAll(): Promise<void> {
    const running = [...this.#tasks.values()].filter((t) => t.state === 'running')
    if (running.length === 0) return
    const ends = await this.#ends(running, true)
    for (const task of running) task.suspend(ends)
  }

  /** Closes every task; the local stores' uncommitted changes (a failed batch) are dropped. */
  close(): void {
    for (const task of this.#tasks.values()) task.close()
    const had = this.#tasks.size > 0
    this.#tasks.clear()
    if (had) this.#report()
  }

  /**
   * Where the tasks' changelog partitions end. `settled` (a task leaving, the run stopping): after the last
   * transaction's markers, so that the local store matches the changelog when the partition comes back here.
   * Between batches the end may still lag the commit just made; a store committed with it then does not
   * match later and is restored from the changelog, which is always correct (as Kafka Streams restores after
   * an unclean stop under exactly-once).
   */
  #ends(tasks: readonly Task[], settled = false): Promise<ChangelogOffsets> {
    return this.#options.changelog.endOffsets(
      this.#topics,
      tasks.map((t) => t.partitionNumber),
      { settled },
    )
  }

  /** Bytes the tasks' local stores take on disk, for progress. */
  stateBytes(): number {
    let n = 0
    for (const task of this.#tasks.values()) n += task.sizeBytes()
    return n
  }

  /** Keyed-state rows across tasks, for progress. */
  get stateRows(): number {
    let n = 0
    for (const task of this.#tasks.values())
      if (task.state === 'running') for (const state of task.processor.states.values()) n += state.size
    return n
  }
}

/** Each running task's mark for the next batch. */
export type TaskMarks = ReadonlyMap<Task, TaskMark>

/** A task's watermark for the next batch, and whether it moved (which runs the task without records). */
export interface TaskMark {
  readonly watermark: number
  readonly moved: boolean
}

/** The lowest watermark among the tasks that run in the batch (for the offsets log and progress). */
export function lowestMark(marks: TaskMarks, records: readonly SourceRecord[]): number {
  const withRecords = new Set(records.map((r) => r.partition))
  let lowest = Number.POSITIVE_INFINITY
  for (const [task, mark] of marks)
    if (mark.moved || withRecords.has(task.partition)) lowest = Math.min(lowest, mark.watermark)
  return lowest === Number.POSITIVE_INFINITY ? Number.NEGATIVE_INFINITY : lowest
}
