import type { z } from 'zod'
import type { Aggregator } from '../aggregate/index.ts'
import type { RecordMeta } from '../contracts/record-meta.ts'
import { UsageError } from '../errors.ts'
import type {
  KeyedProcessContext,
  OutputMode,
  Plan,
  PlanNode,
  PlanNodeKind,
  TableSpec,
} from '../plan/nodes.ts'
import { DEFAULT_RECORD_LIMITS, type RecordLimits, resolveRecordLimits } from '../plan/record-limits.ts'
import { pickFields, type RowTypeTransform, rowTypeFromZod, withoutField } from '../plan/row-type.ts'
import { derivedStepId, stepNameProblem } from '../plan/step-id.ts'
import { isRegistryParser, type RegistryParser } from '../registry/registry-parser.ts'
import type { SinkSpec } from '../runtime/sink.ts'
import type { SourceSpec } from '../runtime/source.ts'
import { type Duration, parseDuration } from '../window/duration.ts'
import type { WindowSpec } from '../window/index.ts'
import type { EventTimeField } from './event-time.ts'
import { isJsonSchemaParser, type JsonSchemaParser, zodValidator } from './parse.ts'

/**
 * Options every step accepts: a name for its state, metrics and error messages (the same as `.name()` after
 * the step). Letters, digits, '.', '_' and '-', unique within the pipeline. Without one the step's id is
 * derived from its kind (`window`, `map-2`: the second map), which stays the same when steps of other kinds
 * are added or removed.
 */
export interface StepOptions {
  readonly name?: string
}

type Draft = {
  readonly pipelineId: string
  readonly nodes: readonly PlanNode[]
  /** Given to pipeline(); undefined means the defaults. */
  readonly recordLimits: RecordLimits | undefined
}

/** The id of the step about to be appended: the user's name, checked, or one derived from its kind. */
function stepId(draft: Draft, kind: PlanNodeKind, options?: StepOptions): { id: string; named: boolean } {
  if (options?.name === undefined) return { id: derivedStepId(kind, draft.nodes), named: false }
  assertName(draft, options.name, undefined)
  return { id: options.name, named: true }
}

/** Checks a user's name for a step; `renamed` is the node it replaces, which may hold any name now. */
function assertName(draft: Draft, name: string, renamed: PlanNode | undefined): void {
  const problem = stepNameProblem(draft.pipelineId, name)
  if (problem) throw new UsageError(`Pipeline "${draft.pipelineId}": ${problem}.`)
  const holder = draft.nodes.find((node) => node.id === name && node !== renamed)
  if (holder) throw duplicate(draft.pipelineId, name, holder)
}

/**
 * Checks that no two steps share an id, once the plan is complete: a derived id may equal a name given to an
 * earlier step of another kind, and a step named with `.name()` holds a derived id until then.
 */
function assertUniqueIds(draft: Draft): void {
  const seen = new Map<string, PlanNode>()
  for (const node of draft.nodes) {
    const holder = seen.get(node.id)
    if (holder) throw duplicate(draft.pipelineId, node.id, holder.named ? node : holder)
    seen.set(node.id, node)
  }
}

function duplicate(pipelineId: string, id: string, unnamed: PlanNode): UsageError {
  return new UsageError(
    `Two steps of pipeline "${pipelineId}" are named "${id}"` +
      (unnamed.named
        ? '.'
        : `: it is the id derived for the ${unnamed.kind} step; name that step, or choose another name.`),
  )
}

/** Names the last step of the draft (`.name()`), which must not be named already. */
function nameLast(draft: Draft, name: string): Draft {
  const last = draft.nodes.at(-1)
  if (!last) throw new Error('internal: a stream without a source')
  if (last.named)
    throw new UsageError(
      `The ${last.kind} step "${last.id}" of pipeline "${draft.pipelineId}" is named twice (now "${name}"): give it one name.`,
    )
  assertName(draft, name, last)
  const renamed = Object.freeze({ ...last, id: name, named: true })
  return { ...draft, nodes: Object.freeze([...draft.nodes.slice(0, -1), renamed]) }
}

function append(draft: Draft, node: PlanNode): Draft {
  return { ...draft, nodes: Object.freeze([...draft.nodes, Object.freeze(node)]) }
}

/** Keys a stream can be grouped by: they become state keys, so they must be plain values. */
export type GroupKey = string | number

/** A typed stream of values of type T. Every method returns a new stream; nothing is mutated. */
export class Stream<T> {
  readonly #draft: Draft

  constructor(draft: Draft) {
    this.#draft = draft
  }

  #then<U>(node: PlanNode): Stream<U> {
    return new Stream<U>(append(this.#draft, node))
  }

  /**
   * Names the step just added (the source after `from()`, the window after `aggregate()`): its id in
   * checkpoints, on the dashboard, in metrics and errors. A named step keeps its state whatever steps are
   * added or removed around it.
   *
   * ```ts
   * .map(enrich).name('enrich')
   * ```
   */
  name(name: string): Stream<T> {
    return new Stream<T>(nameLast(this.#draft, name))
  }

  /**
   * Validates each value against a Zod schema and types the stream with its output, or against a JSON
   * Schema compiled by `fromJsonSchema<T>(schema)` (faster; the stream is typed T). Bytes and text are
   * decoded as UTF-8 JSON first. Values that fail go to the dead-letter output with the reason. With
   * `registry<T>({ url })` the records are Avro, Protobuf or JSON Schema in the Confluent wire format, their
   * schemas fetched from the registry by id (the stream is typed T).
   */
  parse<S extends z.ZodType>(schema: S, options?: StepOptions & { schemaName?: string }): Stream<z.output<S>>
  parse<U>(schema: JsonSchemaParser<U>, options?: StepOptions & { schemaName?: string }): Stream<U>
  parse<U>(schema: RegistryParser<U>, options?: StepOptions & { schemaName?: string }): Stream<U>
  parse(
    schema: z.ZodType | JsonSchemaParser<unknown> | RegistryParser<unknown>,
    options?: StepOptions & { schemaName?: string },
  ): Stream<unknown> {
    const limits = this.#draft.recordLimits ?? DEFAULT_RECORD_LIMITS
    if (isRegistryParser(schema)) {
      const decoder = schema.decoder(limits)
      return this.#then({
        kind: 'parse',
        ...stepId(this.#draft, 'parse', options),
        schemaName: options?.schemaName ?? schema.name,
        validate: decoder.validate,
        prepare: decoder.prepare,
      })
    }
    const json = isJsonSchemaParser(schema)
    const schemaName =
      options?.schemaName ?? (json ? schema.name : ((schema as z.ZodType).description ?? 'zod'))
    return this.#then({
      kind: 'parse',
      ...stepId(this.#draft, 'parse', options),
      schemaName,
      validate: json ? (raw) => schema.validate(raw, limits) : zodValidator(schema as z.ZodType, limits),
      rowType: json ? schema.rowType : rowTypeFromZod(schema as z.ZodType, schemaName),
    })
  }

  /**
   * A new value per record. A second parameter receives the record it came from (key, timestamp, headers,
   * partition, offset: RecordMeta), read only when declared.
   */
  map<U>(fn: (value: T, meta: RecordMeta) => U, options?: StepOptions): Stream<U> {
    return this.#map(fn, options)
  }

  #map<U>(
    fn: (value: T, meta: RecordMeta) => U,
    options: StepOptions | undefined,
    rowType?: RowTypeTransform,
  ): Stream<U> {
    return this.#then({
      kind: 'map',
      ...stepId(this.#draft, 'map', options),
      fn: fn as (v: unknown, meta: RecordMeta) => unknown,
      ...(rowType ? { rowType } : {}),
    })
  }

  /** Keeps the values `fn` accepts; a second parameter receives the record's RecordMeta (see map). */
  filter<S extends T>(fn: (value: T, meta: RecordMeta) => value is S, options?: StepOptions): Stream<S>
  filter(fn: (value: T, meta: RecordMeta) => boolean, options?: StepOptions): Stream<T>
  filter(fn: (value: T, meta: RecordMeta) => boolean, options?: StepOptions): Stream<T> {
    return this.#then({
      kind: 'filter',
      ...stepId(this.#draft, 'filter', options),
      fn: fn as (v: unknown, meta: RecordMeta) => boolean,
    })
  }

  /** Zero or more values per record; a second parameter receives the record's RecordMeta (see map). */
  flatMap<U>(fn: (value: T, meta: RecordMeta) => Iterable<U>, options?: StepOptions): Stream<U> {
    return this.#then({
      kind: 'flatMap',
      ...stepId(this.#draft, 'flatMap', options),
      fn: fn as (v: unknown, meta: RecordMeta) => Iterable<unknown>,
    })
  }

  /** Keeps only the named fields. */
  select<K extends keyof T & string>(...fields: K[]): Stream<Pick<T, K>> {
    return this.#map(
      (value) => {
        const out = {} as Pick<T, K>
        for (const f of fields) out[f] = value[f]
        return out
      },
      undefined,
      pickFields(fields),
    )
  }

  /** Adds (or replaces) one field computed from the value. */
  withField<N extends string, U>(
    name: N,
    fn: (value: T) => U,
    options?: StepOptions,
  ): Stream<Omit<T, N> & { [P in N]: U }> {
    return this.#map(
      (value) => ({ ...value, [name]: fn(value) }) as Omit<T, N> & { [P in N]: U },
      options,
      withoutField(name),
    )
  }

  /**
   * Declares the event-time field and how late records may arrive. The watermark of each input partition is
   * its highest event time minus `delay`; the stream's is the minimum over partitions. With `idleTimeout`, a
   * partition quiet for that long stops holding it back, and a completely quiet stream advances with the
   * clock, so windows close when traffic stops.
   */
  withWatermark(
    field: EventTimeField<T> | { name: string; get: (value: T) => unknown },
    delay: Duration,
    options?: StepOptions & { idleTimeout?: Duration; late?: 'drop' | 'dead-letter' },
  ): Stream<T> {
    const name = typeof field === 'string' ? field : field.name
    const get =
      typeof field === 'string'
        ? (value: unknown) => (value as Record<string, unknown>)[field]
        : (field.get as (v: unknown) => unknown)
    return this.#then({
      kind: 'watermark',
      ...stepId(this.#draft, 'watermark', options),
      field: name,
      eventTime: get,
      delayMs: parseDuration(delay, 'watermark delay', { allowZero: true }),
      idleTimeoutMs:
        options?.idleTimeout === undefined ? undefined : parseDuration(options.idleTimeout, 'idle timeout'),
      late: options?.late ?? 'dead-letter',
    })
  }

  /**
   * Groups the stream by a key, for windows and keyed state. With `partitioned: true` you declare that values
   * with equal keys always come from the same input partition (the key is the Kafka record key, or follows
   * from it): the keyed steps after it then scale out over the pipeline's instances (see "Scaling out").
   */
  keyBy<K extends GroupKey>(
    fn: (value: T) => K,
    options?: StepOptions & { partitioned?: boolean },
  ): KeyedStream<K, T> {
    return new KeyedStream<K, T>(
      append(this.#draft, {
        kind: 'keyBy',
        ...stepId(this.#draft, 'keyBy', options),
        fn: fn as (v: unknown) => unknown,
        ...(options?.partitioned ? { partitioned: true } : {}),
      }),
    )
  }

  /**
   * Groups the stream by each input record's Kafka key (as UTF-8 text), as Kafka Streams' groupByKey does:
   * the key the producer partitioned by, so the keyed steps after it scale out over the pipeline's instances.
   * A record without a key is a dead letter.
   */
  keyByRecordKey(options?: StepOptions): KeyedStream<string, T> {
    return new KeyedStream<string, T>(
      append(this.#draft, {
        kind: 'keyBy',
        ...stepId(this.#draft, 'keyBy', options),
        fn: () => undefined,
        fromRecordKey: true,
        partitioned: true,
      }),
    )
  }

  /**
   * Drops a value when another with the same key was seen within `within` of event time. With
   * `partitioned: true` you declare that duplicates always come from the same input partition (they carry
   * the same Kafka key), so the step scales out over the pipeline's instances.
   */
  dedupe(
    key: (value: T) => unknown,
    within: Duration,
    options?: StepOptions & { partitioned?: boolean },
  ): Stream<T> {
    return this.#then({
      kind: 'dedupe',
      ...stepId(this.#draft, 'dedupe', options),
      keyFn: key as (v: unknown) => unknown,
      withinMs: parseDuration(within, 'dedupe window'),
      ...(options?.partitioned ? { partitioned: true } : {}),
    })
  }

  /**
   * Stream–table join: looks each value's key up in a table held in memory. `how: 'inner'` (default) drops
   * values without a match; 'left' passes `undefined` as the row.
   */
  join<R, U>(
    table: Table<R>,
    on: (value: T) => string | number | null | undefined,
    select: (value: T, row: R) => U,
    options?: StepOptions & { how?: 'inner' },
  ): Stream<U>
  join<R, U>(
    table: Table<R>,
    on: (value: T) => string | number | null | undefined,
    select: (value: T, row: R | undefined) => U,
    options: StepOptions & { how: 'left' },
  ): Stream<U>
  join<R, U>(
    table: Table<R>,
    on: (value: T) => string | number | null | undefined,
    select: (value: T, row: R) => U,
    options?: StepOptions & { how?: 'inner' | 'left' },
  ): Stream<U> {
    return this.#then({
      kind: 'join',
      ...stepId(this.#draft, 'join', options),
      table: table.spec,
      on: on as (v: unknown) => unknown,
      select: select as (v: unknown, r: unknown) => unknown,
      how: options?.how ?? 'inner',
    })
  }

  /** Ends the stream in a sink and returns the runnable pipeline. */
  to(sink: SinkSpec<T>, options?: StepOptions): Pipeline<T> {
    const draft = append(this.#draft, {
      kind: 'sink',
      ...stepId(this.#draft, 'sink', options),
      sink: sink as SinkSpec<unknown>,
    })
    assertUniqueIds(draft)
    return new Pipeline<T>({
      pipelineId: draft.pipelineId,
      nodes: draft.nodes,
      ...(draft.recordLimits ? { recordLimits: draft.recordLimits } : {}),
    })
  }
}

export class KeyedStream<K extends GroupKey, T> {
  readonly #draft: Draft

  constructor(draft: Draft) {
    this.#draft = draft
  }

  /** Names the keyBy step (see Stream.name). */
  name(name: string): KeyedStream<K, T> {
    return new KeyedStream<K, T>(nameLast(this.#draft, name))
  }

  /** Assigns each value to event-time windows: tumbling(size), hopping(size, slide) or session(gap). */
  window(spec: WindowSpec): WindowedStream<K, T> {
    return new WindowedStream<K, T>(this.#draft, spec)
  }

  /**
   * Keyed state for logic windows do not cover (compare with the previous value, running totals, alerts):
   * for each value `process` gets its key's state (`init(key)` for a new key), may `emit` values, and returns
   * the key's next state; `undefined` forgets the key. State is checkpointed as JSON, so keep it JSON-able.
   * `ttl` forgets keys not updated for that long of event time behind the watermark. TypeScript cannot infer
   * the output type from `emit` calls: give it as the second type argument unless it is `unknown`.
   *
   * ```ts
   * .keyBy((row) => row.key)
   * .process<number | null, { category: string; drop: true }>({
   *   init: () => null,
   *   process: (previous, row, { emit }) => {
   *     if (previous !== null && row.revenue < previous / 2) emit({ category: row.key, drop: true })
   *     return row.revenue
   *   },
   * })
   * ```
   */
  process<S, U>(options: KeyedProcessOptions<K, T, S, U>): Stream<U> {
    return new Stream<U>(
      append(this.#draft, {
        kind: 'process',
        ...stepId(this.#draft, 'process', options),
        init: options.init as (key: unknown) => unknown,
        fn: options.process as (s: unknown, v: unknown, c: KeyedProcessContext<unknown, unknown>) => unknown,
        ttlMs: options.ttl === undefined ? undefined : parseDuration(options.ttl, 'process ttl'),
      }),
    )
  }
}

/** Options of a keyed `process()` step. */
export interface KeyedProcessOptions<K, T, S, U> extends StepOptions {
  /** The state of a key seen for the first time. */
  readonly init: (key: K) => S
  /** Returns the key's next state; `undefined` forgets the key. */
  readonly process: (state: S, value: T, context: KeyedProcessContext<K, U>) => S | undefined
  /** Forget keys not updated for this long of event time behind the watermark. */
  readonly ttl?: Duration
}

/** An aggregate's fields in a row: an object result is spread, anything else becomes `value`. */
export type AggregateFields<Out> = Out extends readonly unknown[]
  ? { readonly value: Out }
  : Out extends object
    ? Out
    : { readonly value: Out }

/** One output row of a windowed aggregation. */
export type WindowRow<K, Out> = {
  readonly key: K
  readonly window_start: string
  readonly window_end: string
} & AggregateFields<Out>

export class WindowedStream<K extends GroupKey, T> {
  readonly #draft: Draft
  readonly #spec: WindowSpec
  /** Given by name() for the window step that aggregate() adds. */
  readonly #name: string | undefined

  constructor(draft: Draft, spec: WindowSpec, name?: string) {
    this.#draft = draft
    this.#spec = spec
    this.#name = name
  }

  /** Names the window step (window and aggregate are one step): `.window(tumbling('1m')).name('per-minute')`. */
  name(name: string): WindowedStream<K, T> {
    if (this.#name !== undefined)
      throw new UsageError(
        `The window step "${this.#name}" of pipeline "${this.#draft.pipelineId}" is named twice (now "${name}"): give it one name.`,
      )
    return new WindowedStream<K, T>(this.#draft, this.#spec, name)
  }

  /**
   * Aggregates each (key, window). Output modes: 'append' emits a window once the watermark closes it,
   * 'update' emits windows changed in each batch, 'complete' emits every window each batch.
   */
  aggregate<Out>(
    aggregator: Aggregator<T, unknown, Out>,
    options?: StepOptions & { outputMode?: OutputMode },
  ): Stream<WindowRow<K, Out>> {
    if (this.#spec.kind === 'session' && options?.outputMode === 'complete') {
      throw new UsageError('Session windows support the append and update output modes, not complete.')
    }
    if (this.#name !== undefined && options?.name !== undefined && options.name !== this.#name)
      throw new UsageError(
        `The window step of pipeline "${this.#draft.pipelineId}" is named twice ("${this.#name}" and "${options.name}"): give it one name.`,
      )
    const node: PlanNode = {
      kind: 'window',
      ...stepId(this.#draft, 'window', { name: options?.name ?? this.#name }),
      window: this.#spec,
      aggregator: aggregator as Aggregator<unknown, unknown, unknown>,
      outputMode: options?.outputMode ?? 'append',
    }
    return new Stream<WindowRow<K, Out>>(append(this.#draft, node))
  }
}

/** A lookup table for join(); see connectors for file- and topic-backed tables. */
export interface Table<R> {
  readonly spec: TableSpec
  /** Phantom: the row type. */
  readonly __row?: R
}

/** A complete, runnable pipeline: its plan is frozen data. */
export class Pipeline<T> {
  readonly plan: Plan
  /** Phantom: the type of rows reaching the sink. */
  declare readonly __out?: T

  constructor(plan: Plan) {
    this.plan = plan
  }
}

/** Options of a whole pipeline. */
export interface PipelineOptions {
  /**
   * What one input record may be (raw bytes, nesting depth, fields per object) before any step or sink sees
   * it; a record over a limit is a dead letter with the reason. Defaults: 1 MiB, 128 levels, 1,000 fields.
   */
  readonly recordLimits?: Partial<RecordLimits>
}

/**
 * Starts a pipeline definition: `pipeline('page-metrics').from(kafka({ … }))`, or with options,
 * `pipeline('wide-events', { recordLimits: { maxFields: 5000 } })`.
 */
export function pipeline(
  id: string,
  options: PipelineOptions = {},
): { from<T>(source: SourceSpec<T>, options?: StepOptions): Stream<T> } {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(id)) {
    throw new UsageError(
      `Invalid pipeline id "${id}": use letters, digits, '.', '_' and '-' (it names topics and folders).`,
    )
  }
  const recordLimits =
    options.recordLimits === undefined ? undefined : resolveRecordLimits(options.recordLimits)
  return {
    from<T>(source: SourceSpec<T>, options?: StepOptions): Stream<T> {
      const draft: Draft = { pipelineId: id, nodes: [], recordLimits }
      return new Stream<T>(
        append(draft, {
          kind: 'source',
          ...stepId(draft, 'source', options),
          source: source as SourceSpec<unknown>,
        }),
      )
    },
  }
}
