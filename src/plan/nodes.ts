import type { Aggregator } from '../aggregate/aggregator.ts'
import type { RecordMeta } from '../contracts/record-meta.ts'
import type { SinkSpec } from '../runtime/sink.ts'
import type { SourceSpec } from '../runtime/source.ts'
import type { WindowSpec } from '../window/spec.ts'
import type { RecordLimits } from './record-limits.ts'
import type { RowType, RowTypeTransform } from './row-type.ts'

/**
 * The logical plan: a chain of frozen nodes from one source to one sink. Nodes hold the user's functions
 * but no runtime state; the runtime compiles them into operators. Every node has a stable id, which names its
 * state in checkpoints, its metrics and its errors: the user's name for the step, or one derived from its kind
 * (step-id.ts).
 */
export type PlanNode =
  | SourceNode
  | ParseNode
  | MapNode
  | FilterNode
  | FlatMapNode
  | WatermarkNode
  | KeyByNode
  | WindowAggregateNode
  | DedupeNode
  | KeyedProcessNode
  | JoinNode
  | SinkNode

export type PlanNodeKind = PlanNode['kind']

interface Base<K extends string> {
  readonly kind: K
  readonly id: string
  /** True when the user named the step (`.name()`, `{ name }`, YAML `name:`); false when its id is derived. */
  readonly named: boolean
}

export interface SourceNode extends Base<'source'> {
  readonly source: SourceSpec
}

/** Validates raw values against a schema; failures become dead letters. */
export interface ParseNode extends Base<'parse'> {
  readonly schemaName: string
  /** Returns the typed value, or a reason string when the value does not fit. */
  readonly validate: (value: unknown) => { ok: true; value: unknown } | { ok: false; reason: string }
  /**
   * Run (and awaited) before each batch with its raw record values, when validate needs something fetched
   * first: the schema registry's schemas by id. validate itself stays synchronous.
   */
  readonly prepare?: ((values: readonly unknown[]) => Promise<void>) | undefined
  /** The top-level field types the schema declares for the values it lets through (table sinks use them). */
  readonly rowType?: RowType | undefined
}

export interface MapNode extends Base<'map'> {
  readonly fn: (value: unknown, meta: RecordMeta) => unknown
  /** For maps that keep part of the shape (select, withField): the row type after the step. */
  readonly rowType?: RowTypeTransform | undefined
}

export interface FilterNode extends Base<'filter'> {
  readonly fn: (value: unknown, meta: RecordMeta) => boolean
}

export interface FlatMapNode extends Base<'flatMap'> {
  readonly fn: (value: unknown, meta: RecordMeta) => Iterable<unknown>
}

export interface WatermarkNode extends Base<'watermark'> {
  /** Field name, for describe() and compatibility checks. */
  readonly field: string
  readonly eventTime: (value: unknown) => unknown
  readonly delayMs: number
  /** A partition (or the whole stream) quiet for this long stops holding the watermark back. */
  readonly idleTimeoutMs: number | undefined
  readonly late: 'drop' | 'dead-letter'
}

export interface KeyByNode extends Base<'keyBy'> {
  readonly fn: (value: unknown) => unknown
  /** The key is the input record's Kafka key (`keyByRecordKey()`), not what `fn` returns. */
  readonly fromRecordKey?: boolean
  /**
   * Declared by the user: values with equal keys always come from the same input partition (the key is, or
   * follows from, the record key the producer partitioned by). Keyed state then splits by partition and
   * scales out with it (see runtime/scale-out.ts).
   */
  readonly partitioned?: boolean
}

export interface WindowAggregateNode extends Base<'window'> {
  readonly window: WindowSpec
  readonly aggregator: Aggregator<unknown, unknown, unknown>
  readonly outputMode: OutputMode
}

export interface DedupeNode extends Base<'dedupe'> {
  readonly keyFn: (value: unknown) => unknown
  readonly withinMs: number
  /** Declared by the user: duplicates always come from the same input partition (see KeyByNode.partitioned). */
  readonly partitioned?: boolean
}

/** Per-key state a user function reads and replaces for each value (keyed `process()`). */
export interface KeyedProcessNode extends Base<'process'> {
  readonly init: (key: unknown) => unknown
  readonly fn: (state: unknown, value: unknown, context: KeyedProcessContext<unknown, unknown>) => unknown
  /** A key not updated for this long of event time (behind the watermark) is forgotten. */
  readonly ttlMs: number | undefined
}

/** What a keyed `process()` function sees besides its state and value. */
export interface KeyedProcessContext<K, U> {
  readonly key: K
  /** Event time of the value, epoch ms (NaN without a watermark step). */
  readonly eventTime: number
  /** Sends a value downstream; may be called any number of times. */
  emit(value: U): void
}

export interface JoinNode extends Base<'join'> {
  readonly table: TableSpec
  readonly on: (value: unknown) => unknown
  readonly select: (value: unknown, row: unknown) => unknown
  readonly how: 'inner' | 'left'
}

export interface SinkNode extends Base<'sink'> {
  readonly sink: SinkSpec<unknown>
}

export type OutputMode = 'append' | 'update' | 'complete'

/** A lookup table the stream joins against, kept in memory. */
export interface TableSpec {
  readonly type: string
  readonly options: Readonly<Record<string, unknown>>
  load(context: { readonly signal?: AbortSignal }): Promise<LookupTable>
}

export interface LookupTable {
  get(key: string): unknown
  readonly size: number
  /** Applies updates that arrived since the last call (compacted-topic tables); no-op for static tables. */
  refresh?(): Promise<void>
  close?(): Promise<void>
}

/** A plan: the chain of nodes, source first. */
export interface Plan {
  readonly pipelineId: string
  readonly nodes: readonly PlanNode[]
  /** What one input record may be; the defaults (record-limits.ts) when the pipeline gave none. */
  readonly recordLimits?: RecordLimits
}
