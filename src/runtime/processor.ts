import type { ChangelogRecord } from '../contracts/changelog.ts'
import type { LookupTable, Plan, PlanNode, WatermarkNode } from '../plan/nodes.ts'
import { bytesOver, DEFAULT_RECORD_LIMITS } from '../plan/record-limits.ts'
import { StateDatabase, type StateSlot, type StateStore } from '../state/state-database.ts'
import {
  type BatchCounters,
  type BatchScope,
  derivedContext,
  type Emit,
  newCounters,
  type RecordContext,
  toDeadLetter,
} from './operators/context.ts'
import { DedupeOperator } from './operators/dedupe.ts'
import { joinOperator } from './operators/join.ts'
import { KeyedProcessOperator } from './operators/keyed-process.ts'
import { SessionWindowOperator } from './operators/session-window.ts'
import {
  filterOperator,
  flatMapOperator,
  keyByOperator,
  mapOperator,
  parseOperator,
} from './operators/stateless.ts'
import { watermarkOperator } from './operators/watermark.ts'
import { WindowOperator } from './operators/window.ts'
import type { DeadLetter } from './sink.ts'
import type { SourceRecord } from './source.ts'
import type { TapSampler, Taps } from './tap.ts'
import { WatermarkTracker } from './watermark-tracker.ts'

export interface BatchInput {
  readonly batchId: number
  readonly records: readonly SourceRecord[]
  /** The watermark in force for this batch, from the offsets log. */
  readonly watermark: number
  /** When the batch was planned, from the offsets log. */
  readonly batchTime: number
}

export interface BatchOutput {
  readonly rows: unknown[]
  readonly deadLetters: DeadLetter[]
  readonly counters: BatchCounters
  /** The state changes of a scaled-out run's tasks, committed with the rows (see TaskManager). */
  readonly changelog?: readonly ChangelogRecord[]
  /** Partitions whose tasks ran without records (SinkCommitContext.heldPartitions). */
  readonly heldPartitions?: readonly string[]
}

interface Stateful {
  readonly state: StateStore
  readonly push: Emit
  flush(watermark: number): void
  retarget(next: Emit): void
}

export interface ProcessorOptions {
  /** Where keyed state lives: the checkpoint's store. Default: a store in memory, for plans with keyed state. */
  readonly database?: StateDatabase
  /** Decoded state entries each stateful operator keeps in memory between batches. Default 100,000. */
  readonly stateCacheEntries?: number
  /** The process's live taps (the dashboard's): operators someone watches get sampled. */
  readonly taps?: Taps
}

export const DEFAULT_STATE_CACHE_ENTRIES = 100_000

const STATEFUL_KINDS: ReadonlySet<string> = new Set(['dedupe', 'process', 'window'])

/**
 * Runs one batch through the plan's operators, synchronously and without I/O: the same code serves the
 * Kafka runtime and the test driver. Operators are fused into one chain of closures; a batch is a loop
 * over its records, not a promise per record.
 */
export class BatchProcessor {
  readonly plan: Plan
  readonly watermarks: WatermarkTracker
  /** The state store; undefined for a plan without state. */
  readonly database: StateDatabase | undefined
  readonly #cacheEntries: number
  readonly #maxBytes: number
  #entry: Emit
  readonly #stateful: Stateful[] = []
  /** Stateful operators by node id: created once, re-pointed when the chain is compiled again for a tap. */
  readonly #statefulById = new Map<string, Stateful>()
  readonly #taps: Taps | undefined
  /** The taps' version the chain was compiled for. */
  #tapsVersion = 0
  /** This batch's samplers by node index (empty while nothing is tapped). */
  #samplers: (TapSampler | undefined)[] = []
  readonly #tables = new Map<string, LookupTable>()
  #scope: MutableScope | undefined

  constructor(plan: Plan, options: ProcessorOptions = {}) {
    this.plan = plan
    this.database =
      options.database ??
      (plan.nodes.some((n) => STATEFUL_KINDS.has(n.kind)) ? StateDatabase.open(':memory:') : undefined)
    this.#cacheEntries = options.stateCacheEntries ?? DEFAULT_STATE_CACHE_ENTRIES
    this.#maxBytes = (plan.recordLimits ?? DEFAULT_RECORD_LIMITS).maxBytes
    const watermarkNode = plan.nodes.find((n): n is WatermarkNode => n.kind === 'watermark')
    this.watermarks = new WatermarkTracker(watermarkNode?.delayMs ?? 0, watermarkNode?.idleTimeoutMs)
    this.#taps = options.taps
    this.#tapsVersion = this.#taps?.version ?? 0
    // A tap may be open already (a restart, a scaled-out task created while someone watches).
    this.#entry = this.#compile(plan.nodes, new Set(this.#taps?.of(plan.pipelineId)?.keys() ?? []))
  }

  /** Operators with state, in plan order, keyed by operator id. */
  get states(): ReadonlyMap<string, StateStore> {
    return new Map(this.#stateful.map((op) => [op.state.id, op.state]))
  }

  get hasState(): boolean {
    return this.#stateful.length > 0
  }

  /** Join nodes need their tables before the first batch. */
  tableNodes(): readonly Extract<PlanNode, { kind: 'join' }>[] {
    return this.plan.nodes.filter((n): n is Extract<PlanNode, { kind: 'join' }> => n.kind === 'join')
  }

  setTable(nodeId: string, table: LookupTable): void {
    this.#tables.set(nodeId, table)
  }

  /** Runs one batch. Its state changes stay in memory or the store's open transaction until database.commit(). */
  process(input: BatchInput, now: number): BatchOutput {
    this.database?.begin(input.batchId)
    const scope = new MutableScope(input, this.watermarks, now)
    this.#scope = scope
    const samplers = this.#sample(input.batchId, now)
    try {
      const sourceSampler = samplers[0]
      if (sourceSampler)
        for (const record of input.records) sourceSampler.offer(record.value, { ...UNREAD, record })
      for (const record of input.records) {
        scope.counters.inputRows++
        const context: RecordContext = { record, eventTime: Number.NaN, key: undefined, keyString: '' }
        if (record.invalid !== undefined) {
          scope.deadLetter(context, 'source', record.invalid)
          continue
        }
        // Before any step: a parse step would decode it all, a sink without one would store it all.
        const bytes = bytesOver(record.value, this.#maxBytes)
        if (bytes !== undefined)
          scope.deadLetter(
            context,
            'source',
            `record of ${bytes} bytes is larger than ${this.#maxBytes} (recordLimits.maxBytes)`,
          )
        else this.#entry(record.value, context)
      }
      for (const op of this.#stateful) op.flush(input.watermark)
      for (const op of this.#stateful) op.state.afterBatch()
      const sinkSampler = samplers[this.plan.nodes.length - 1]
      if (sinkSampler) for (const row of scope.rows) sinkSampler.offer(row, DERIVED(input.batchId))
      for (const sampler of samplers) sampler?.finish()
    } finally {
      this.#scope = undefined
      this.#samplers = []
    }
    scope.counters.outputRows = scope.rows.length
    return { rows: scope.rows, deadLetters: scope.deadLetters, counters: scope.counters }
  }

  /**
   * This batch's samplers, one per tapped node; the chain is compiled again first when taps opened or closed
   * since the last batch (an integer comparison when they did not).
   */
  #sample(batchId: number, now: number): (TapSampler | undefined)[] {
    const taps = this.#taps
    if (!taps) return this.#samplers
    const open = taps.of(this.plan.pipelineId)
    if (taps.version !== this.#tapsVersion) {
      this.#tapsVersion = taps.version
      this.#entry = this.#compile(this.plan.nodes, new Set(open?.keys() ?? []))
    }
    if (!open) return this.#samplers
    this.#samplers = this.plan.nodes.map((node) => open.get(node.id)?.sampler(batchId, now))
    return this.#samplers
  }

  #compile(nodes: readonly PlanNode[], tapped: ReadonlySet<string>): Emit {
    const scope = () => {
      if (!this.#scope) throw new Error('internal: operator called outside a batch')
      return this.#scope
    }
    const slot = (id: string): StateSlot => {
      if (!this.database) throw new Error('internal: a stateful operator in a plan without state')
      return { table: this.database.table(id), cacheEntries: this.#cacheEntries }
    }
    const stateful = <T extends Stateful>(id: string, create: () => T, next: Emit): Emit => {
      const existing = this.#statefulById.get(id)
      if (existing) {
        existing.retarget(next)
        return existing.push
      }
      const op = create()
      this.#statefulById.set(id, op)
      this.#stateful.unshift(op)
      return op.push
    }
    let next: Emit = (value) => {
      scope().rows.push(value)
    }
    for (let i = nodes.length - 1; i >= 0; i--) {
      const node = nodes[i]!
      // The source's and the sink's samples are taken from the batch's input and output instead.
      if (tapped.has(node.id) && node.kind !== 'source' && node.kind !== 'sink')
        next = this.#tapAfter(i, next)
      switch (node.kind) {
        case 'source':
        case 'sink':
          break
        case 'parse':
          next = parseOperator(node, scope, next)
          break
        case 'map':
          next = mapOperator(node, scope, next)
          break
        case 'filter':
          next = filterOperator(node, scope, next)
          break
        case 'flatMap':
          next = flatMapOperator(node, scope, next)
          break
        case 'keyBy':
          next = keyByOperator(node, scope, next)
          break
        case 'watermark':
          next = watermarkOperator(node, scope, next)
          break
        case 'join': {
          const id = node.id
          next = joinOperator(
            node,
            () => {
              const table = this.#tables.get(id)
              if (!table) throw new Error(`internal: table of ${id} not loaded`)
              return table
            },
            scope,
            next,
          )
          break
        }
        case 'dedupe': {
          const after = next
          next = stateful(node.id, () => new DedupeOperator(node, scope, after, slot(node.id)), after)
          break
        }
        case 'process': {
          const after = next
          next = stateful(node.id, () => new KeyedProcessOperator(node, scope, after, slot(node.id)), after)
          break
        }
        case 'window': {
          const after = next
          next = stateful(
            node.id,
            (): Stateful =>
              node.window.kind === 'session'
                ? new SessionWindowOperator(node, scope, after, slot(node.id))
                : new WindowOperator(node, scope, after, slot(node.id)),
            after,
          )
          break
        }
        default: {
          const unreachable: never = node
          throw new Error(`internal: unknown plan node ${JSON.stringify(unreachable)}`)
        }
      }
    }
    return next
  }

  /** Passes what node `index` emits to `next`, offering it to the node's sampler on the way. */
  #tapAfter(index: number, next: Emit): Emit {
    return (value, context) => {
      this.#samplers[index]?.offer(value, context)
      next(value, context)
    }
  }
}

/** The context of a record not yet read by any step, for the source's tap. */
const UNREAD = { eventTime: Number.NaN, key: undefined, keyString: '' } as const

/** The context of a row the sink receives: rows of a batch no longer point at one input record. */
function DERIVED(batchId: number): RecordContext {
  return derivedContext(Number.NaN, undefined, '', batchId)
}

class MutableScope implements BatchScope {
  readonly batchId: number
  readonly watermark: number
  readonly batchTime: number
  readonly counters = newCounters()
  readonly rows: unknown[] = []
  readonly deadLetters: DeadLetter[] = []
  readonly #tracker: WatermarkTracker
  readonly #now: number

  constructor(input: BatchInput, tracker: WatermarkTracker, now: number) {
    this.batchId = input.batchId
    this.watermark = input.watermark
    this.batchTime = input.batchTime
    this.#tracker = tracker
    this.#now = now
  }

  deadLetter(context: RecordContext, operator: string, reason: string): void {
    this.counters.deadLettered++
    this.deadLetters.push(toDeadLetter(context, operator, reason))
  }

  observeEventTime(partition: string, eventTime: number): void {
    this.#tracker.observe(partition, eventTime, this.#now)
  }
}
