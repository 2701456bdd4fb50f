import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { type ChangelogOffsets, type ChangelogRecord, changelogTopic } from '../contracts/changelog.ts'
import { SluiceError } from '../errors.ts'
import type { LookupTable, Plan } from '../plan/nodes.ts'
import { type EventTimes, type StateChange, StateDatabase } from '../state/state-database.ts'
import { type BatchOutput, BatchProcessor } from './processor.ts'
import type { SourceRecord } from './source.ts'
import type { Taps } from './tap.ts'

/**
 * A task's lifecycle, as Kafka Streams' StreamTask has one:
 *   created   → restoring  the group assigned the partition; its state is being made current
 *   restoring → running    the state is that of the partition's committed position: batches may run
 *   running   → suspended  the partition was revoked (or the run stops) after its last batch committed: the
 *                          local store commits, so a later assignment here needs no restore
 *   suspended → closed     the local store is closed
 *   any       → closed     a failure: the local store's open transaction is dropped (the changelog is the truth)
 */
export type TaskState = 'created' | 'restoring' | 'running' | 'suspended' | 'closed'

const NEXT: Readonly<Record<TaskState, readonly TaskState[]>> = {
  created: ['restoring', 'closed'],
  restoring: ['running', 'closed'],
  running: ['suspended', 'closed'],
  suspended: ['closed'],
  closed: [],
}

/** The local store's meta entry with the changelog ends its state corresponds to. */
const CHANGELOG_ENDS = 'changelog-ends'

/** The changelog key of the record that says which input position a partition's state covers. */
export const POSITION_KEY = '\u0000sluice:position'

/** The value of a position marker: the input position the state covers, and its event-time progress. */
interface PositionMarker {
  readonly position: number
  readonly eventTimes: EventTimes
}

export interface TaskOptions {
  readonly plan: Plan
  /** Input partition ("topic:3") and its number (the changelog partition). */
  readonly partition: string
  readonly partitionNumber: number
  /**
   * Folder of the local stores (one SQLite file per task), or ':memory:' for a store that lives as long as
   * the task (the test driver's: every assignment then restores from the changelog).
   */
  readonly directory: string | ':memory:'
  readonly stateCacheEntries?: number
  readonly tables: ReadonlyMap<string, LookupTable>
  /** Which assignment of the partition this task serves (a partition revoked and given back is a new one). */
  readonly assignment: number
  /** The run's clock (event-time idleness counts from when the task starts). */
  readonly now: () => number
  readonly taps?: Taps
}

/**
 * The unit of work of a scaled-out pipeline: one input partition, its operators' state for the keys of that
 * partition (a local SQLite store, a cache of the changelog topics), its event-time progress and its position.
 * A batch runs each task over its partition's records; the runtime commits the tasks' output, changelog
 * records and positions in one transaction.
 */
export class Task {
  readonly partition: string
  readonly partitionNumber: number
  readonly assignment: number
  readonly #options: TaskOptions
  readonly #database: StateDatabase
  #processor: BatchProcessor | undefined
  #state: TaskState = 'created'
  /** The input position the state covers (next offset to read); undefined before the first record. */
  #position: number | undefined
  /** The watermark of the last batch the task ran in (-Infinity: none since it started). */
  #ranUnder = Number.NEGATIVE_INFINITY
  /**
   * Where the changelog partitions of this task ended when the local store last committed: the store holds
   * exactly the state they hold up to there. Undefined: nothing committed locally.
   */
  #localEnds: string | undefined
  /** The position the local store's state covers. */
  #localPosition: number | undefined
  /** Restoring: changelog rows applied, and the position marker of each operator's changelog. */
  #restoredRows = 0
  readonly #markers = new Map<string, PositionMarker>()

  constructor(options: TaskOptions) {
    this.#options = options
    this.partition = options.partition
    this.partitionNumber = options.partitionNumber
    this.assignment = options.assignment
    this.#database = StateDatabase.open(storeLocation(options.directory, options.partition))
    this.#localPosition = this.#database.latestBatch
    this.#localEnds = this.#database.meta(CHANGELOG_ENDS)
  }

  get state(): TaskState {
    return this.#state
  }

  get position(): number | undefined {
    return this.#position
  }

  /** Restoring: the input position the changelog read so far says its state covers (its first marker). */
  get restoredPosition(): number | undefined {
    return [...this.#markers.values()][0]?.position
  }

  /**
   * The watermark the task last ran under: a higher one may close windows, so the task runs then even
   * without records of its own.
   */
  get ranUnder(): number {
    return this.#ranUnder
  }

  get processor(): BatchProcessor {
    if (!this.#processor || this.#state !== 'running')
      throw new Error(`internal: task ${this.partition} used while ${this.#state}`)
    return this.#processor
  }

  /** Operator ids whose state this task keeps (their changelog topics). */
  static statefulOperators(plan: Plan): string[] {
    return plan.nodes
      .filter((n) => n.kind === 'window' || n.kind === 'dedupe' || n.kind === 'process')
      .map((n) => n.id)
  }

  /**
   * Starts restoring for an assignment that begins at `committed` (the group's committed offset), with the
   * task's changelog partitions ending at `ends` now. Returns true when the local store holds exactly that
   * state: it committed at this position when the changelog ended where it ends now, so nobody changed the
   * state since (a task can change state without moving its position: windows closing as time passes).
   * Otherwise the local store is emptied and the caller feeds the changelog through apply(), then calls
   * restored().
   */
  beginRestore(committed: number, ends: ChangelogOffsets): boolean {
    this.#transition('restoring')
    if (this.#localPosition === committed && this.#localEnds === this.#endsOf(ends)) {
      const eventTimes = this.#database.restore(committed)
      this.#start(committed, eventTimes)
      return true
    }
    this.#database.clear()
    this.#localPosition = undefined
    this.#database.begin(-1)
    return false
  }

  /** One changelog record of this task's partition (restoring). */
  apply(operator: string, record: ChangelogRecord): void {
    if (record.key === POSITION_KEY) {
      if (record.value !== null) this.#markers.set(operator, JSON.parse(record.value) as PositionMarker)
      return
    }
    const table = this.#database.table(operator)
    if (record.value === null) {
      table.delete(record.key)
      return
    }
    const row = JSON.parse(record.value) as { t: number | null; v: string }
    table.put(record.key, row.t, row.v)
    this.#restoredRows++
  }

  /**
   * The changelog has been read to its end: checks that it covers exactly the committed position, commits
   * the local store and starts the task. Returns the rows restored.
   */
  restored(committed: number, changelogTopics: readonly string[], ends: ChangelogOffsets): number {
    const markers = [...this.#markers.values()]
    const position = markers[0]?.position
    if (markers.some((m) => m.position !== position) || (position === undefined && this.#restoredRows > 0))
      throw new SluiceError(
        'SLUICE_CHANGELOG_INCONSISTENT',
        `The changelog topics ${changelogTopics.join(', ')} disagree on the input position their state of ${this.partition} covers (${markers.map((m) => m.position).join(', ') || 'no marker'}): they were written by different runs. Delete them and reprocess the input from the start with a new consumer group.`,
        { domain: 'external', retryable: false },
      )
    if (position !== undefined && position !== committed)
      throw new SluiceError(
        'SLUICE_CHANGELOG_MISMATCH',
        `The state of ${this.partition} in ${changelogTopics.join(', ')} covers the input up to offset ${position}, but the consumer group committed offset ${committed}: the group's offsets were moved by hand, or the changelog was replaced. Reset the group and delete the changelog topics together (sluice reset), then reprocess.`,
        { domain: 'external', retryable: false },
      )
    const eventTimes = markers[0]?.eventTimes ?? {}
    const localEnds = this.#endsOf(ends)
    this.#database.commit(committed, [], eventTimes, { [CHANGELOG_ENDS]: localEnds })
    this.#localPosition = committed
    this.#localEnds = localEnds
    this.#start(committed, eventTimes)
    return this.#restoredRows
  }

  /**
   * Runs this task's records of a batch under `watermark`. Every state change goes into `changelog` (the last
   * change per key), followed by a position marker per operator when the position moved.
   */
  process(
    input: { batchId: number; batchTime: number; records: readonly SourceRecord[]; watermark: number },
    now: number,
    pipelineId: string,
    changelog: ChangelogRecord[],
  ): BatchOutput {
    const processor = this.processor
    const changes = new Map<string, StateChange>()
    this.#database.captureChanges((change) => {
      const id = `${change.op}\u0000${change.key}`
      changes.delete(id) // re-inserted last: the changelog keeps the order of the final changes
      changes.set(id, change)
    })
    let output: BatchOutput
    try {
      this.#ranUnder = input.watermark
      output = processor.process(input, now)
      // Changes kept in memory go to the store now: the changelog must carry every batch's changes.
      for (const store of processor.states.values()) store.writeChanges()
    } finally {
      this.#database.captureChanges(undefined)
    }
    const partition = this.partitionNumber
    for (const change of changes.values()) {
      changelog.push({
        topic: changelogTopic(pipelineId, change.op),
        partition,
        key: change.key,
        value: change.value === null ? null : JSON.stringify({ t: change.time, v: change.value }),
      })
    }
    const last = input.records.at(-1)
    if (last !== undefined) {
      this.#position = last.offset + 1
      const marker = JSON.stringify({
        position: this.#position,
        eventTimes: processor.watermarks.snapshot().partitions,
      } satisfies PositionMarker)
      for (const op of processor.states.keys())
        changelog.push({ topic: changelogTopic(pipelineId, op), partition, key: POSITION_KEY, value: marker })
    }
    return output
  }

  /**
   * After a batch committed, with the task's changelog partitions ending at `ends` (this task's own writes
   * so far: it is their only writer while it owns the partition): commits the local store, which then holds
   * exactly that state. Called about once a second, and at suspend.
   */
  commitLocal(ends: ChangelogOffsets): void {
    if (this.#state !== 'running' || this.#position === undefined) return
    const localEnds = this.#endsOf(ends)
    if (this.#position === this.#localPosition && localEnds === this.#localEnds) return
    const processor = this.processor
    this.#database.commit(
      this.#position,
      processor.states.values(),
      processor.watermarks.snapshot().partitions,
      { [CHANGELOG_ENDS]: localEnds },
    )
    this.#localPosition = this.#position
    this.#localEnds = localEnds
  }

  /** This task's entries of `ends`, as the local store keeps them. */
  #endsOf(ends: ChangelogOffsets): string {
    const suffix = `:${this.partitionNumber}`
    return JSON.stringify([...ends].filter(([key]) => key.endsWith(suffix)).sort())
  }

  /** Bytes the local store takes on disk. */
  sizeBytes(): number {
    return this.#state === 'closed' ? 0 : this.#database.sizeBytes()
  }

  /** The partition was revoked (or the run stops) after its last batch committed. */
  suspend(ends: ChangelogOffsets): void {
    this.commitLocal(ends)
    this.#transition('suspended')
  }

  /** Releases the local store; uncommitted changes (a failed batch) are dropped. */
  close(): void {
    if (this.#state === 'closed') return
    this.#state = 'closed'
    this.#database.close()
  }

  #start(position: number, eventTimes: EventTimes): void {
    this.#position = position
    const processor = new BatchProcessor(this.#options.plan, {
      database: this.#database,
      ...(this.#options.taps ? { taps: this.#options.taps } : {}),
      ...(this.#options.stateCacheEntries !== undefined
        ? { stateCacheEntries: this.#options.stateCacheEntries }
        : {}),
    })
    for (const [id, table] of this.#options.tables) processor.setTable(id, table)
    processor.watermarks.restore(
      { watermark: Number.NEGATIVE_INFINITY, partitions: eventTimes },
      this.#options.now(),
    )
    this.#processor = processor
    this.#transition('running')
  }

  #transition(to: TaskState): void {
    if (!NEXT[this.#state].includes(to))
      throw new Error(`internal: task ${this.partition} cannot go from ${this.#state} to ${to}`)
    this.#state = to
  }
}

/** Where a task's local store lives: its file in `directory` (created), or in memory. */
function storeLocation(directory: string, partition: string): string {
  if (directory === ':memory:') return directory
  mkdirSync(directory, { recursive: true })
  return join(directory, `${fileName(partition)}.db`)
}

/** A partition name as a file name ("events:3" → "events-3"). */
function fileName(partition: string): string {
  return partition.replace(/[^A-Za-z0-9._-]/g, '-')
}
