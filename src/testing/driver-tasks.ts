import { changelogTopic } from '../contracts/changelog.ts'
import type { LookupTable, Plan } from '../plan/nodes.ts'
import type { BatchOutput } from '../runtime/processor.ts'
import type { SourceRecord } from '../runtime/source.ts'
import { Task } from '../runtime/task.ts'
import { processTasks } from '../runtime/task-batch.ts'
import { MemoryChangelogStore } from './memory-changelog-store.ts'

/** Where a moved task's state came from, and how many state rows the changelog gave it. */
export interface TaskMove {
  readonly partition: number
  readonly restoredFrom: 'local' | 'changelog'
  readonly rows: number
}

export interface DriverTasksOptions {
  readonly plan: Plan
  readonly partitions: number
  /** Folder of the tasks' local stores; undefined: in memory (a task lives as long as its assignment). */
  readonly stateDirectory: string | undefined
  readonly stateCacheEntries: number | undefined
  readonly tables: ReadonlyMap<string, LookupTable>
  readonly now: () => number
}

/**
 * The test driver's partitioned mode: one runtime Task per input partition, run as a scaled-out run runs
 * them (TaskManager and run.ts): each task's watermark comes from its own partition's event time, a batch
 * runs the tasks that have records or whose watermark moved, and its changelog records commit with it. A
 * moved task is suspended, closed and re-created, restoring through the ChangelogStore contract from the
 * in-memory changelog (or its local store when that is current).
 */
export class DriverTasks {
  readonly changelog = new MemoryChangelogStore()
  readonly #options: DriverTasksOptions
  readonly #topics: readonly string[]
  /** Changelog topic → operator id. */
  readonly #operatorOf: ReadonlyMap<string, string>
  readonly #tasks: Task[] = []
  /** Per partition: the committed input position (the group's offset), and every row its task emitted. */
  readonly #committed: number[]
  readonly #rows: unknown[][]
  #assignments = 0

  private constructor(options: DriverTasksOptions) {
    this.#options = options
    const operators = Task.statefulOperators(options.plan)
    this.#topics = operators.map((op) => changelogTopic(options.plan.pipelineId, op))
    this.#operatorOf = new Map(operators.map((op, i) => [this.#topics[i]!, op]))
    this.#committed = Array.from({ length: options.partitions }, () => 0)
    this.#rows = Array.from({ length: options.partitions }, () => [])
  }

  static async open(options: DriverTasksOptions): Promise<DriverTasks> {
    const tasks = new DriverTasks(options)
    await tasks.changelog.prepare(tasks.#topics, options.partitions)
    for (let p = 0; p < options.partitions; p++)
      tasks.#tasks[p] = (await tasks.#restore(p, options.stateDirectory ?? ':memory:')).task
    return tasks
  }

  /** The name records of partition p carry (SourceRecord.partition). */
  static partitionName(partition: number): string {
    return `p${partition}`
  }

  get partitions(): number {
    return this.#options.partitions
  }

  watermarkOf(partition: number): number {
    return this.#tasks[partition]!.processor.watermarks.watermark
  }

  /** The lowest of the tasks' watermarks. */
  get watermark(): number {
    return Math.min(...this.#tasks.map((t) => t.processor.watermarks.watermark))
  }

  rowsOf(partition: number): readonly unknown[] {
    return this.#rows[partition]!
  }

  /**
   * Runs one batch over `records` (each of partition p named partitionName(p)) and commits it: output rows
   * in partition order, then every task's changelog records and positions.
   */
  runBatch(
    input: { batchId: number; batchTime: number; records: readonly SourceRecord[] },
    now: number,
    endOfInput: boolean,
  ): BatchOutput {
    const withRecords = new Set(input.records.map((r) => r.partition))
    // As TaskManager.watermarks(): each from its own partition, computed before the batch runs. A partition
    // with records in this batch is unread, so never idle.
    const marks = this.#tasks.map((task) => {
      const tracker = task.processor.watermarks
      const before = tracker.watermark
      if (endOfInput) return { watermark: tracker.endOfInput(), moved: tracker.watermark > before }
      const own = withRecords.has(task.partition) ? new Set([task.partition]) : undefined
      const watermark = tracker.advance(now, own, own)
      return { watermark, moved: watermark > before }
    })
    const out = processTasks(
      new Map(this.#tasks.map((task) => [task.partition, task])),
      input,
      now,
      this.#options.plan.pipelineId,
      (task, hasRecords) => {
        const mark = marks[task.partitionNumber]!
        return hasRecords || mark.moved ? mark.watermark : undefined
      },
    )
    for (const { task, rows } of out.ran) for (const row of rows) this.#rows[task.partitionNumber]!.push(row)
    // The batch commits: its changelog records, then (the group's offsets) each task's position.
    this.changelog.append(out.changelog)
    for (const { task } of out.ran) {
      const p = task.partitionNumber
      this.#committed[p] = task.position ?? this.#committed[p]!
      task.commitLocal(this.changelog.ends(this.#topics, [p]))
    }
    return { rows: out.rows, deadLetters: out.deadLetters, counters: out.counters }
  }

  /**
   * Moves the tasks of `partitions` to another instance: each is suspended (its local store commits) and
   * closed, then a new task for the partition restores, as after a rebalance. 'changelog': the new owner
   * has an empty disk; 'local': the partition comes back to the instance of the state directory.
   */
  async move(partitions: readonly number[], restoreFrom: 'local' | 'changelog'): Promise<TaskMove[]> {
    const moves: TaskMove[] = []
    for (const p of partitions) {
      const old = this.#tasks[p]!
      try {
        old.suspend(await this.changelog.endOffsets(this.#topics, [p]))
      } finally {
        old.close()
      }
      const directory = restoreFrom === 'local' ? this.#options.stateDirectory! : ':memory:'
      const { task, move } = await this.#restore(p, directory)
      this.#tasks[p] = task
      moves.push(move)
    }
    return moves
  }

  /** Creates partition p's task and restores it to the committed position, as TaskManager.ensure() does. */
  async #restore(p: number, directory: string): Promise<{ task: Task; move: TaskMove }> {
    const options = this.#options
    const task = new Task({
      plan: options.plan,
      partition: DriverTasks.partitionName(p),
      partitionNumber: p,
      directory,
      tables: options.tables,
      assignment: this.#assignments++,
      now: options.now,
      ...(options.stateCacheEntries !== undefined ? { stateCacheEntries: options.stateCacheEntries } : {}),
    })
    try {
      const committed = this.#committed[p]!
      if (task.beginRestore(committed, await this.changelog.endOffsets(this.#topics, [p])))
        return { task, move: { partition: p, restoredFrom: 'local', rows: 0 } }
      const restoredTo = await this.changelog.read(this.#topics, [p], (record) =>
        task.apply(this.#operatorOf.get(record.topic)!, record),
      )
      const rows = task.restored(committed, this.#topics, restoredTo)
      return { task, move: { partition: p, restoredFrom: 'changelog', rows } }
    } catch (error) {
      task.close()
      throw error
    }
  }

  close(): void {
    for (const task of this.#tasks) task.close()
  }
}
