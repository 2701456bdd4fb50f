import { type OffsetsEntry, watermarkFromLog, watermarkToLog } from '../checkpoint/checkpoint.ts'
import type { Pipeline } from '../dsl/stream.ts'
import { describeError, SluiceError } from '../errors.ts'
import { type Logger, silentLogger } from '../log.ts'
import type { Plan } from '../plan/nodes.ts'
import { batchLatency } from './latency.ts'
import { advance, reached, startOf, unprocessed } from './positions.ts'
import type { BatchProcessor } from './processor.ts'
import type { BatchLatency, BatchProgress } from './progress.ts'
import { boundedTrigger, gaveUp, Restarts, restartMessage } from './restarts.ts'
import { type Clock, type RunOptions, systemClock } from './run-options.ts'
import { RunResources, type RunSetup, setUpRun } from './run-setup.ts'
import type { SourceReader, SourceRecord } from './source.ts'
import { lowestMark, type TaskMarks } from './task-manager.ts'
import { defaultLingerMs, type Trigger } from './trigger.ts'
import { sleep } from './wait.ts'

export { type BatchRef, type Clock, type RunOptions, systemClock } from './run-options.ts'

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

/** One attempt at running the pipeline: open everything from the checkpoint, then loop over batches. */
class PipelineRun {
  readonly #plan: Plan
  readonly #options: RunOptions
  readonly #logger: Logger
  readonly #clock: Clock
  readonly #totals: Totals
  readonly #opened = new RunResources()
  #lastBatchEnd = 0
  #lag: Record<string, number> | undefined
  #lagCheckedAt = 0
  #stateBytes = 0

  constructor(plan: Plan, options: RunOptions, logger: Logger, totals: Totals) {
    this.#plan = plan
    this.#options = options
    this.#logger = logger
    this.#clock = options.clock ?? systemClock
    this.#totals = totals
  }

  async execute(): Promise<void> {
    const plan = this.#plan
    const setup = await setUpRun(plan, this.#options, {
      logger: this.#logger,
      clock: this.#clock,
      opened: this.#opened,
    })
    const { processor, source, tasks, gate, preparers, commits, replays } = setup
    let { position, batchId, watermark } = setup

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
      for (const table of setup.tables) await table.refresh?.()
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
        setup,
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
    { processor, source, tasks }: RunSetup,
    records: readonly SourceRecord[],
    replayed: boolean,
    latency: BatchLatency | null,
  ): Promise<void> {
    const inputRows = records.length
    const now = this.#clock.now()
    if (source.lag && now - this.#lagCheckedAt >= (source.lagIntervalMs ?? 5_000)) {
      this.#lagCheckedAt = now
      this.#lag = await source.lag().catch(() => undefined)
    }
    let stateRows = tasks?.stateRows ?? 0
    if (!tasks) for (const state of processor.states.values()) stateRows += state.size
    // The store's size on disk; asked every 10 batches and repeated in between.
    if (entry.batchId % 10 === 0)
      this.#stateBytes = tasks?.stateBytes() ?? processor.database?.sizeBytes() ?? 0
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
      sourceUnit: source.lagUnit ?? 'records',
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

  /** Whether the source ends by itself (undefined before this attempt created it). */
  get sourceBounded(): boolean | undefined {
    return this.#opened.source?.bounded
  }

  async dispose(): Promise<void> {
    await this.#opened.dispose()
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
