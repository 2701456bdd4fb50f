import type { ChangelogRecord } from '../contracts/changelog.ts'
import { addCounters, newCounters } from './operators/context.ts'
import type { BatchOutput } from './processor.ts'
import type { DeadLetter } from './sink.ts'
import type { SourceRecord } from './source.ts'
import type { Task } from './task.ts'

/** A batch across tasks: their rows, dead letters and counters together, and their changelog records. */
export interface TasksOutput extends BatchOutput {
  readonly changelog: ChangelogRecord[]
  /** Partitions whose tasks ran without records: the sink commits their unchanged positions (fencing). */
  readonly heldPartitions: string[]
  /** The lowest watermark a task ran under (for progress). */
  readonly watermark: number
  /** The tasks that ran, in order, each with the rows it emitted. */
  readonly ran: readonly { readonly task: Task; readonly rows: readonly unknown[] }[]
}

/**
 * Runs a batch over tasks (TaskManager's, and the test driver's partitioned mode), partition → task: each task over its
 * partition's records, under the watermark `watermarkOf` gives it. A task it gives no watermark does not
 * run; one without records runs when it is given one (its watermark moved, so its windows may close).
 */
export function processTasks(
  tasks: ReadonlyMap<string, Task>,
  input: { readonly batchId: number; readonly batchTime: number; readonly records: readonly SourceRecord[] },
  now: number,
  pipelineId: string,
  watermarkOf: (task: Task, hasRecords: boolean) => number | undefined,
): TasksOutput {
  const byPartition = new Map<string, SourceRecord[]>()
  for (const r of input.records) {
    // A record of a partition without a task would be committed unprocessed.
    if (!tasks.has(r.partition)) throw new Error(`internal: a record of ${r.partition}, which has no task`)
    const list = byPartition.get(r.partition)
    if (list) list.push(r)
    else byPartition.set(r.partition, [r])
  }
  const rows: unknown[] = []
  const deadLetters: DeadLetter[] = []
  const counters = newCounters()
  const changelog: ChangelogRecord[] = []
  const held: string[] = []
  const ran: { task: Task; rows: readonly unknown[] }[] = []
  let lowest = Number.POSITIVE_INFINITY
  for (const task of tasks.values()) {
    const records = byPartition.get(task.partition) ?? []
    const watermark = watermarkOf(task, records.length > 0)
    if (watermark === undefined) continue
    if (records.length === 0) held.push(task.partition)
    lowest = Math.min(lowest, watermark)
    const out = task.process(
      { batchId: input.batchId, batchTime: input.batchTime, records, watermark },
      now,
      pipelineId,
      changelog,
    )
    for (const row of out.rows) rows.push(row)
    for (const d of out.deadLetters) deadLetters.push(d)
    addCounters(counters, out.counters)
    ran.push({ task, rows: out.rows })
  }
  return {
    rows,
    deadLetters,
    counters,
    changelog,
    heldPartitions: held,
    watermark: lowest === Number.POSITIVE_INFINITY ? Number.NEGATIVE_INFINITY : lowest,
    ran,
  }
}
