import { hostname } from 'node:os'
import { join } from 'node:path'
import { Checkpoint, type OffsetsEntry, watermarkFromLog, watermarkToLog } from '../checkpoint/checkpoint.ts'
import type { TasksReport } from '../contracts/group-view.ts'
import type { Pipeline } from '../dsl/stream.ts'
import { describeError, SluiceError } from '../errors.ts'
import { type Logger, silentLogger } from '../log.ts'
import type { LookupTable, Plan, SinkNode, SourceNode } from '../plan/nodes.ts'
import { outputRowType } from '../plan/row-type.ts'
import { CommitProtocol } from './commit-protocol.ts'
import { batchLatency } from './latency.ts'
import { PartitionGate } from './partition-gate.ts'
import { advance, reached, startOf, unprocessed } from './positions.ts'
import { BatchProcessor } from './processor.ts'
import type { BatchLatency, BatchProgress } from './progress.ts'
import { planRecovery } from './recovery.ts'
import { boundedTrigger, gaveUp, Restarts, restartMessage } from './restarts.ts'
import { scaleOutBlockers } from './scale-out.ts'
import { type DeadLetter, openSink, type SinkWriter } from './sink.ts'
import type { Positions, SourceReader, SourceRecord } from './source.ts'
import type { Taps } from './tap.ts'
import { lowestMark, TaskManager, type TaskMarks } from './task-manager.ts'
import { defaultLingerMs, type Trigger } from './trigger.ts'
import { sleep } from './wait.ts'

export interface Clock {
  now(): number
}

export const systemClock: Clock = { now: () => Date.now() }

export interface RunOptions {
  /** Checkpoint directory. Default: data/checkpoints/<pipeline id>. */
  readonly checkpoint?: string
  /** Default: a batch every second. */
  readonly trigger?: Trigger
  /**
   * Upper bound of records per batch (memory bound together with the client's fetch buffer). Default 20,000:
   * a batch's records outlive the young generation and are promoted, so the batch size sets how high the old
   * generation grows between full GCs (bench, 1M live window keys: peak RSS 506–517 MB at 20k, 595–679 MB
   * at 50k, the same CPU per event; window 10.9 vs 10.6 and sessions 16.2 vs 15.7 CPU s per 1M events).
   */
  readonly maxBatchRecords?: number
  /**
   * How long a batch waits for more records once the first arrived. Default by trigger (`defaultLingerMs`):
   * 2 ms continuous, 20 ms processingTime, 200 ms for bounded runs (availableNow, once).
   */
  readonly lingerMs?: number
  readonly signal?: AbortSignal
  readonly onProgress?: (progress: BatchProgress) => void
  /** A committed batch's dead letters (called only when there are some), e.g. for a dashboard. */
  readonly onDeadLetters?: (deadLetters: readonly DeadLetter[], batch: BatchRef) => void
  /** The sink failed to write or commit a batch; the error is then thrown (and retried when retryable). */
  readonly onSinkError?: (error: unknown, batch: BatchRef) => void
  readonly logger?: Logger
  readonly clock?: Clock
  /** Stop after this many batches (tests, benchmarks). */
  readonly maxBatches?: number
  /**
   * Decoded keyed-state entries each stateful operator keeps in memory between batches (default 100,000);
   * the rest stays in the checkpoint's state store on disk and is read when a record needs it.
   */
  readonly stateCacheEntries?: number
  /**
   * How often keyed state is committed to the checkpoint's store (default 1000 ms; 0: after every batch).
   * Between commits a key changed by many batches is written once; after a crash the batches since the last
   * commit, which the sink already has, are replayed without writing them to rebuild the state.
   */
  readonly stateCommitIntervalMs?: number
  /**
   * How long a run keeps restarting after failures that retrying can fix (a broker it cannot reach) before it
   * gives up and throws SLUICE_RETRY_TIMEOUT, counted from the first failure since the last committed batch.
   * Default: 2 minutes for a bounded run (availableNow, once, or a bounded source: a batch job must end),
   * for ever for a streaming one (a service waits for its broker). Every restart logs one warning with the
   * cause and the wait (or calls onRestart instead).
   */
  readonly retryTimeoutMs?: number
  /** Told of each restart after a failure instead of the warning it logs, e.g. to say it once for many pipelines. */
  readonly onRestart?: (
    error: unknown,
    restart: { readonly waitMs: number; readonly message: string },
  ) => void
  /**
   * This process's name among the instances of the pipeline (static group membership, and the Kafka sink's
   * transactional id when instances share the source's partitions). Each instance needs its own, stable
   * across its restarts; default: the source's own (kafka({ instanceId })), else the host name.
   */
  readonly instance?: string
  /**
   * Live taps (the dashboard's `monitor.hooks.taps`): while someone watches an operator, a sample of what it
   * emits goes to them; nothing is sampled, and no tap code runs per record, while nobody does.
   */
  readonly taps?: Taps
  /**
   * A scaled-out stateful run: told each task's state (restoring, running) whenever its tasks change, for the
   * dashboard's group view. Never awaited; what it throws is ignored.
   */
  readonly onTasks?: (report: TasksReport) => void
}

export interface BatchRef {
  readonly pipelineId: string
  readonly batchId: number
}

export interface RunSummary {
  readonly batches: number
  readonly inputRows: number
  readonly outputRows: number
  readonly deadLetteredRows: number
  readonly lateRows: number
  /** Dropped by dedupe(). */
  readonly duplicateRows: number
  readonly restarts: number
}

type Totals = { -readonly [K in keyof RunSummary]: RunSummary[K] }

/**
 * Runs a pipeline until its trigger says stop (once, availableNow), `maxBatches` is reached or the signal
 * aborts. Failures that retrying can fix (a broker going away) restart the run from the checkpoint with
 * backoff, which replays the unfinished batch exactly; others are thrown.
 */
export async function run<T>(pipeline: Pipeline<T>, options: RunOptions = {}): Promise<RunSummary> {
  const logger = options.logger ?? silentLogger
  const totals: Totals = {
    batches: 0,
    inputRows: 0,
    outputRows: 0,
    deadLetteredRows: 0,
    lateRows: 0,
    duplicateRows: 0,
    restarts: 0,
  }
  const restarts = new Restarts(options.retryTimeoutMs)
  const triggerBounded = boundedTrigger(options.trigger ?? { kind: 'processingTime', intervalMs: 1000 })
  let sourceBounded: boolean | undefined
  for (;;) {
    const attempt = new PipelineRun(pipeline.plan, options, logger, totals)
    const batchesBefore = totals.batches
    try {
      await attempt.execute()
      await attempt.dispose()
      return { ...totals }
    } catch (error) {
      await attempt.dispose()
      if (options.signal?.aborted) return { ...totals }
      if (!(error instanceof SluiceError) || !error.retryable) throw error
      sourceBounded = attempt.sourceBounded ?? sourceBounded
      const decision = restarts.next(totals.batches > batchesBefore, triggerBounded || sourceBounded === true)
      if (!decision.restart) throw gaveUp(pipeline.plan.pipelineId, error, decision)
      totals.restarts++
      if (options.onRestart)
        options.onRestart(error, { waitMs: decision.waitMs, message: restartMessage(error, decision) })
      else
        logger.warn(
          { retry: { cause: describeError(error), waitMs: decision.waitMs, restart: decision.attempt } },
          restartMessage(error, decision),
        )
      await sleep(decision.waitMs, options.signal)
    }
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

/** One attempt at running the pipeline: open everything from the checkpoint, then loop over batches. */
class PipelineRun {
  readonly #plan: Plan
  readonly #options: RunOptions
  readonly #logger: Logger
  readonly #clock: Clock
  readonly #totals: Totals
  #checkpoint: Checkpoint | undefined
  #source: SourceReader | undefined
  #sink: SinkWriter<unknown> | undefined
  #tables: LookupTable[] = []
  #lastBatchEnd = 0
  #lag: Record<string, number> | undefined
  #lagCheckedAt = 0
  #stateBytes = 0
  /** A scaled-out stateful run's tasks (undefined otherwise: one processor runs the whole input). */
  #tasks: TaskManager | undefined

  constructor(plan: Plan, options: RunOptions, logger: Logger, totals: Totals) {
    this.#plan = plan
    this.#options = options
    this.#logger = logger
    this.#clock = options.clock ?? systemClock
    this.#totals = totals
  }

  async execute(): Promise<void> {
    const plan = this.#plan
    // A plan that can run as several instances sharing the source's partitions: its keyed state lives in
    // per-task stores and changelog topics (TaskManager), not in the checkpoint.
    const shareable = scaleOutBlockers(plan).length === 0
    const checkpointDir = this.#options.checkpoint ?? join('data', 'checkpoints', plan.pipelineId)
    const checkpoint = await Checkpoint.open(checkpointDir, plan, { state: !shareable })
    this.#checkpoint = checkpoint
    const processor = new BatchProcessor(plan, {
      ...(this.#options.taps ? { taps: this.#options.taps } : {}),
      ...(checkpoint.stateDatabase ? { database: checkpoint.stateDatabase } : {}),
      ...(this.#options.stateCacheEntries !== undefined
        ? { stateCacheEntries: this.#options.stateCacheEntries }
        : {}),
    })
    for (const node of processor.tableNodes()) {
      const table = await node.table.load(this.#options.signal ? { signal: this.#options.signal } : {})
      this.#tables.push(table)
      processor.setTable(node.id, table)
    }
    const source = sourceNode(plan).source.create({
      pipelineId: plan.pipelineId,
      plan,
      now: () => this.#clock.now(),
      ...(this.#options.instance !== undefined ? { instance: this.#options.instance } : {}),
    })
    this.#source = source
    const sink = sinkNode(plan).sink.create()
    this.#sink = sink
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
    // A sink with a position per partition in its own database: each new assignment starts where it is.
    const gate =
      scaleOut && !contract.commitsSourceOffsets && contract.partitionPositions
        ? new PartitionGate(contract.partitionPositions, source)
        : undefined
    if (shareable && processor.hasState) {
      if (!scaleOut || !contract.changelog)
        throw new Error(`internal: ${sink.description} cannot carry the state of a scaled-out pipeline`)
      this.#tasks = new TaskManager({
        plan,
        source,
        changelog: contract.changelog,
        ...(gate ? { sinkPositions: (partitions: readonly string[]) => gate.positions(partitions) } : {}),
        directory: join(checkpointDir, 'tasks'),
        tables: new Map(processor.tableNodes().map((n, i) => [n.id, this.#tables[i]!])),
        localCommitMs: this.#options.stateCommitIntervalMs ?? 1000,
        ...(this.#options.taps ? { taps: this.#options.taps } : {}),
        logger: this.#logger,
        now: () => this.#clock.now(),
        ...(this.#options.stateCacheEntries !== undefined
          ? { stateCacheEntries: this.#options.stateCacheEntries }
          : {}),
        ...(this.#options.signal ? { signal: this.#options.signal } : {}),
        ...(this.#options.onTasks ? { onTasks: this.#reportTasks(this.#options.onTasks) } : {}),
      })
    }
    const tasks = this.#tasks
    const preparers = plan.nodes.flatMap((node) =>
      node.kind === 'parse' && node.prepare ? [node.prepare] : [],
    )

    const { committed, replays, fromSink, sinkKeepsPosition } = await planRecovery(
      checkpoint,
      sink,
      contract,
      {
        pipelineId: plan.pipelineId,
        stateful: processor.hasState,
        scaleOut,
        logger: this.#logger,
        now: () => this.#clock.now(),
      },
    )
    let watermark = Number.NEGATIVE_INFINITY
    // The store's newest state (-1: empty); the batches after it are replayed first.
    const stateSavedThrough = fromSink ? -1 : (checkpoint.stateDatabase?.latestBatch ?? -1)
    const eventTimes = fromSink ? {} : { ...checkpoint.loadState(stateSavedThrough, processor.states) }
    if (committed) watermark = watermarkFromLog(committed.watermark)
    processor.watermarks.restore({ watermark, partitions: eventTimes }, this.#clock.now())

    const first = replays[0]?.entry
    let position: Positions = first?.start ?? committed?.end ?? {}
    let batchId = first?.batchId ?? (committed ? committed.batchId + 1 : 0)
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
        stateCommitMs: this.#options.stateCommitIntervalMs ?? 1000,
        logger: this.#logger,
        onSinkError: (error, id) =>
          this.#options.onSinkError?.(error, { pipelineId: plan.pipelineId, batchId: id }),
      },
    )

    const trigger = this.#options.trigger ?? { kind: 'processingTime', intervalMs: 1000 }
    // Bounded runs stop at the end positions seen now: availableNow, or a source that is bounded itself.
    const until = trigger.kind === 'availableNow' || source.bounded ? await source.endPositions() : undefined
    const maxRecords = this.#options.maxBatchRecords ?? 20_000
    const stateful = processor.hasState
    let ran = 0
    this.#lastBatchEnd = this.#clock.now()
    let taskMarks: TaskMarks = new Map()

    while (!this.#options.signal?.aborted) {
      if (this.#options.maxBatches !== undefined && ran >= this.#options.maxBatches) break
      const started = this.#clock.now()
      let entry: OffsetsEntry
      let records: SourceRecord[]
      const replay = replays.shift()
      const wasReplay = replay !== undefined
      const writeOutput = replay?.write ?? true
      const pollStart = performance.now()
      if (replay) {
        entry = replay.entry
        records = await this.#readExactly(source, entry, maxRecords)
      } else {
        await tasks?.retain() // partitions moved away since the last batch: their tasks suspend and close
        let exhausted = until !== undefined && reached(position, until)
        // The watermark for this batch comes from what earlier batches observed: computed before polling, so
        // partitions whose first records arrive in this batch still count as pending.
        let next = tasks ? Number.NEGATIVE_INFINITY : await this.#nextWatermark(processor, source)
        // A processing-time batch covers the log as it was when the trigger fired.
        const upTo =
          trigger.kind === 'processingTime' && !exhausted ? await source.latestPositions?.() : undefined
        // Whatever the last poll handed out is committed or was not taken into a batch.
        source.finishedBatch?.()
        records = exhausted
          ? []
          : await source.poll({
              maxRecords,
              maxBytes: 64 * 1024 * 1024,
              lingerMs: this.#options.lingerMs ?? defaultLingerMs(trigger),
              idleMs: this.#idleMs(trigger),
              ...(until ? { until } : {}),
              ...(upTo ? { upTo } : {}),
              ...(this.#options.signal ? { signal: this.#options.signal } : {}),
            })
        records = unprocessed(position, records)
        if (gate) records = await gate.admit(records)
        if (until && records.length === 0 && source.caughtUp?.(until)) exhausted = true
        // A bounded source read to its end: one last batch closes every window and session.
        const endOfInput = exhausted && source.bounded && records.length === 0
        if (endOfInput) next = processor.watermarks.endOfInput()
        let tasksMoved = false
        if (tasks) {
          await tasks.retain() // revocations that completed during the poll
          await tasks.ensure(records) // new partitions' tasks restore their state before they run
          taskMarks = await tasks.watermarks(records, endOfInput)
          tasksMoved = [...taskMarks.values()].some((m) => m.moved)
          next = lowestMark(taskMarks, records)
        }
        // With no records, a batch still runs when the watermark moved and windows may close (a no-data batch).
        if (records.length === 0 && !(tasks ? tasksMoved : stateful && next > watermark)) {
          if (exhausted || (trigger.kind === 'once' && ran > 0)) break
          await this.#waitForTrigger(trigger, started)
          continue
        }
        entry = {
          batchId,
          start: startOf(position, records),
          end: advance(position, records),
          watermark: watermarkToLog(next),
          batchTime: this.#clock.now(),
        }
      }
      const pollMs = performance.now() - pollStart
      watermark = watermarkFromLog(entry.watermark)

      const planned = commits.plan(entry) // step 1 of the commit protocol (commit-protocol.ts)

      // Steps that fetch before they decode (a schema registry's schemas by id) do it here, not per record.
      for (const prepare of preparers) await prepare(records.map((record) => record.value))
      const processStart = performance.now()
      for (const table of this.#tables) await table.refresh?.()
      const marks = taskMarks
      const output = tasks
        ? tasks.process(
            { batchId: entry.batchId, records, batchTime: entry.batchTime },
            this.#clock.now(),
            (t, has) => {
              const mark = marks.get(t)
              return mark && (has || mark.moved) ? mark.watermark : undefined
            },
          )
        : processor.process(
            { batchId: entry.batchId, records, watermark, batchTime: entry.batchTime },
            this.#clock.now(),
          )
      const processMs = performance.now() - processStart

      const { checkpointMs, sinkMs, refused } = await commits.finish(
        planned,
        output,
        records,
        writeOutput,
        gate?.expected(records, output.heldPartitions),
      )
      gate?.committed(entry.end, records)
      await tasks?.afterCommit()
      source.finishedBatch?.()
      const deadLetters = refused.length > 0 ? [...output.deadLetters, ...refused] : output.deadLetters
      const latency = batchLatency(records, this.#clock.now())

      ran++
      position = entry.end
      batchId = entry.batchId + 1
      if (writeOutput && deadLetters.length > 0)
        this.#options.onDeadLetters?.(deadLetters, {
          pipelineId: plan.pipelineId,
          batchId: entry.batchId,
        })
      await this.#publish(
        entry,
        // A rebuilt batch was written before the crash: its rows and dead letters are not counted again.
        writeOutput
          ? {
              ...output.counters,
              outputRows: output.counters.outputRows - refused.length,
              deadLettered: output.counters.deadLettered + refused.length,
            }
          : { ...output.counters, outputRows: 0, deadLettered: 0, lateRows: 0, duplicateRows: 0 },
        { pollMs, processMs, checkpointMs, sinkMs },
        processor,
        records,
        wasReplay,
        latency,
      )
      if (
        trigger.kind === 'once' &&
        !(stateful && processor.watermarks.advance(this.#clock.now()) > watermark)
      )
        break
      await this.#waitForTrigger(trigger, started)
    }
    commits.stop()
    await tasks?.suspendAll()
    tasks?.close()
  }

  /**
   * The watermark the next batch runs under. Partitions quiet for the idle timeout are idle only when the
   * source has nothing unread for them: a slowly read backlog must not fall behind the clock and turn late.
   */
  async #nextWatermark(processor: BatchProcessor, source: SourceReader): Promise<number> {
    const pending = source.pendingPartitions?.()
    const quiet = processor.watermarks.idleCandidates(this.#clock.now(), pending)
    const unread = quiet.length > 0 ? await source.unread?.(quiet) : undefined
    return processor.watermarks.advance(this.#clock.now(), pending, unread)
  }

  /** Re-reads exactly the logged range of an unfinished batch. */
  async #readExactly(source: SourceReader, entry: OffsetsEntry, maxRecords: number): Promise<SourceRecord[]> {
    const out: SourceRecord[] = []
    let position = entry.start
    const deadline = this.#clock.now() + 120_000
    while (!reached(position, entry.end)) {
      if (this.#clock.now() > deadline) {
        throw new SluiceError(
          'SLUICE_REPLAY_INCOMPLETE',
          `Could not re-read batch ${entry.batchId} from ${source.description}: the logged input is no longer available (retention?).`,
          { domain: 'external', retryable: false },
        )
      }
      const records = await source.poll({
        maxRecords,
        maxBytes: 64 * 1024 * 1024,
        lingerMs: 10,
        idleMs: 500,
        until: entry.end,
        ...(this.#options.signal ? { signal: this.#options.signal } : {}),
      })
      out.push(...records)
      position = advance(position, records)
      if (this.#options.signal?.aborted) break
    }
    return out
  }

  #idleMs(trigger: Trigger): number {
    return trigger.kind === 'processingTime' ? Math.max(10, trigger.intervalMs) : 200
  }

  async #waitForTrigger(trigger: Trigger, started: number): Promise<void> {
    if (trigger.kind !== 'processingTime') return
    const wait = started + trigger.intervalMs - this.#clock.now()
    if (wait > 0) await sleep(wait, this.#options.signal)
  }

  async #publish(
    entry: OffsetsEntry,
    counters: {
      inputRows: number
      outputRows: number
      deadLettered: number
      lateRows: number
      duplicateRows: number
    },
    times: { pollMs: number; processMs: number; checkpointMs: number; sinkMs: number },
    processor: BatchProcessor,
    records: readonly SourceRecord[],
    replayed: boolean,
    latency: BatchLatency | null,
  ): Promise<void> {
    const inputRows = records.length
    const now = this.#clock.now()
    if (this.#source?.lag && now - this.#lagCheckedAt >= (this.#source.lagIntervalMs ?? 5_000)) {
      this.#lagCheckedAt = now
      this.#lag = await this.#source.lag().catch(() => undefined)
    }
    let stateRows = this.#tasks?.stateRows ?? 0
    if (!this.#tasks) for (const state of processor.states.values()) stateRows += state.size
    // The store's size on disk; asked every 10 batches and repeated in between.
    if (entry.batchId % 10 === 0)
      this.#stateBytes = this.#tasks?.stateBytes() ?? processor.database?.sizeBytes() ?? 0
    const stateBytes = this.#stateBytes
    const total = times.pollMs + times.processMs + times.checkpointMs + times.sinkMs
    const sinceLast = Math.max(1, now - this.#lastBatchEnd)
    this.#lastBatchEnd = now
    const progress: BatchProgress = {
      pipelineId: this.#plan.pipelineId,
      batchId: entry.batchId,
      timestamp: new Date(now).toISOString(),
      inputRows,
      inputRowsPerSecond: Math.round((inputRows * 1000) / sinceLast),
      processedRowsPerSecond: Math.round((inputRows * 1000) / Math.max(1, total)),
      outputRows: counters.outputRows,
      deadLetteredRows: counters.deadLettered,
      lateRows: counters.lateRows,
      duplicateRows: counters.duplicateRows,
      durationMs: {
        poll: round(times.pollMs),
        process: round(times.processMs),
        checkpoint: round(times.checkpointMs),
        sink: round(times.sinkMs),
        total: round(total),
      },
      watermark: typeof entry.watermark === 'number' ? new Date(entry.watermark).toISOString() : null,
      ...(entry.watermark === 'end' ? { endOfInput: true } : {}),
      stateRows,
      stateBytes,
      sourceLag: this.#lag,
      sourceUnit: this.#source?.lagUnit ?? 'records',
      sourceRead: sourceRead(records),
      replayed,
      latency,
    }
    this.#totals.batches++
    this.#totals.inputRows += inputRows
    this.#totals.outputRows += counters.outputRows
    this.#totals.deadLetteredRows += counters.deadLettered
    this.#totals.lateRows += counters.lateRows
    this.#totals.duplicateRows += counters.duplicateRows
    this.#logger[inputRows > 0 ? 'info' : 'debug'](
      progress,
      `batch ${entry.batchId}: ${inputRows} in, ${counters.outputRows} out`,
    )
    this.#options.onProgress?.(progress)
  }

  #reportTasks(
    onTasks: (report: TasksReport) => void,
  ): (tasks: Readonly<Record<string, TasksReport['tasks'][string]>>) => void {
    const host = hostname()
    return (tasks) => onTasks({ pipelineId: this.#plan.pipelineId, host, pid: process.pid, tasks })
  }

  /** Whether the source ends by itself (undefined before this attempt created it). */
  get sourceBounded(): boolean | undefined {
    return this.#source?.bounded
  }

  async dispose(): Promise<void> {
    this.#tasks?.close()
    await this.#sink?.close().catch(() => {})
    await this.#source?.close().catch(() => {})
    for (const table of this.#tables) await table.close?.().catch(() => {})
    this.#checkpoint?.close()
  }
}

/** How far records move their source along, in its lag unit (records count 1 unless they say). */
function sourceRead(records: readonly SourceRecord[]): number {
  let n = 0
  for (const r of records) n += r.size ?? 1
  return n
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10
}
