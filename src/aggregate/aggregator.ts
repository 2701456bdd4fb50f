import { SluiceError, UsageError } from '../errors.ts'
import type { FieldType } from '../plan/row-type.ts'

/**
 * What an aggregator's results are, for the column types of a table they end in: one type (a scalar result
 * becomes the window row's `value`), or the types of an object result's fields (`aggregates()`).
 */
export type ResultType = FieldType | { readonly fields: Readonly<Record<string, FieldType | undefined>> }

/**
 * An incremental, mergeable aggregation. The engine keeps one accumulator per key and window, feeds it rows
 * as they arrive, merges accumulators when session windows join, and snapshots them into checkpoints.
 *
 * Contract, which the engine relies on:
 * - `add` and `merge` may mutate and return their first argument: the hot path must not allocate per row.
 * - `merge(a, b)` must leave `b` untouched, since `b` may still be live (a pane shared by several hopping
 *   windows). It treats `a` as holding the earlier-added rows, which decides ties for first/last.
 * - `result` must not return live internals of `acc`: a row already emitted must not change when `acc` does.
 * - `decode(encode(acc))` must behave exactly like `acc`, otherwise a restart changes results.
 */
export interface Aggregator<In, Acc, Out> {
  /**
   * Identifies the state format ('count', 'sum', 'approxCountDistinct(precision=14)', 'custom:<name>', …).
   * It is stored in checkpoints so that a changed pipeline refuses state it cannot read, instead of
   * misreading it. Parameters that change the state format belong in it; the field selector does not.
   */
  readonly kind: string
  /** What `result` returns, when that is always the same kind (count: integer; sum: number). */
  readonly resultType?: ResultType | undefined
  init(): Acc
  /** `eventTime` (epoch ms) is what makes first/last deterministic; most aggregators ignore it. */
  add(acc: Acc, input: In, eventTime: number): Acc
  merge(a: Acc, b: Acc): Acc
  result(acc: Acc): Out
  /** A JSON-serialisable snapshot: no bigint, Set, Map, typed arrays, NaN or Infinity. */
  encode(acc: Acc): unknown
  decode(snapshot: unknown): Acc
}

/*
 * The helper types below match with `infer` on every parameter: Aggregator's members are declared as methods,
 * so they are compared bivariantly, which is also what lets an Aggregator<Row, number, number> be stored where
 * an Aggregator<unknown, unknown, unknown> is expected (the plan does that).
 */

/** The row type an aggregator reads. */
export type InputOf<A> = A extends Aggregator<infer I, infer _Acc, infer _Out> ? I : never
/** The accumulator type an aggregator keeps. */
export type AccOf<A> = A extends Aggregator<infer _In, infer Acc, infer _Out> ? Acc : never
/** The value an aggregator produces. */
export type OutputOf<A> = A extends Aggregator<infer _In, infer _Acc, infer O> ? O : never

/** Picks the value an aggregator works on out of a row. */
export type Selector<In, V> = (row: In) => V

/** What a user writes to define an aggregator; `encode`/`decode` may be left out when `Acc` is plain JSON. */
export interface AggregatorDefinition<In, Acc, Out> {
  /** A name for the state format; stored as 'custom:<kind>'. Change it whenever `Acc`'s shape changes. */
  readonly kind: string
  /** What `result` returns, for the column types of a table the results end in (default: not said). */
  readonly resultType?: ResultType
  init(): Acc
  add(acc: Acc, input: In, eventTime: number): Acc
  merge(a: Acc, b: Acc): Acc
  result(acc: Acc): Out
  encode?(acc: Acc): unknown
  decode?(snapshot: unknown): Acc
}

/**
 * A user-defined aggregator. Without `encode`/`decode` the accumulator itself is the snapshot, so it must be
 * plain JSON data (objects, arrays, strings, finite numbers, booleans, null); anything else (a Set, a Date)
 * would come back from a checkpoint as something different and silently change results after a restart.
 */
export function aggregator<In, Acc, Out>(
  definition: AggregatorDefinition<In, Acc, Out>,
): Aggregator<In, Acc, Out> {
  const name = definition.kind.trim()
  if (name === '') throw new UsageError('aggregator(): kind must be a non-empty name, e.g. "p95-latency"')
  for (const method of ['init', 'add', 'merge', 'result'] as const) {
    if (typeof definition[method] !== 'function') {
      throw new UsageError(`aggregator("${name}"): ${method} must be a function`)
    }
  }
  const encode = definition.encode ?? ((acc: Acc): unknown => acc)
  const decode = definition.decode ?? ((snapshot: unknown): Acc => snapshot as Acc)
  return {
    kind: name.startsWith('custom:') ? name : `custom:${name}`,
    ...(definition.resultType ? { resultType: definition.resultType } : {}),
    init: () => definition.init(),
    add: (acc, input, eventTime) => definition.add(acc, input, eventTime),
    merge: (a, b) => definition.merge(a, b),
    result: (acc) => definition.result(acc),
    encode: (acc) => encode(acc),
    decode: (snapshot) => decode(snapshot),
  }
}

/**
 * A snapshot that does not decode means the checkpoint is corrupt or was written by an incompatible build
 * (the kind check should have caught a changed pipeline): not something the user can fix by retrying.
 */
export function badSnapshot(kind: string, detail: string, snapshot: unknown): SluiceError {
  let shown: string
  try {
    shown = JSON.stringify(snapshot) ?? String(snapshot)
  } catch {
    shown = String(snapshot)
  }
  if (shown.length > 120) shown = shown.slice(0, 117) + '...'
  return new SluiceError('SLUICE_AGGREGATE_STATE', `Cannot restore ${kind} state: ${detail} (got ${shown})`, {
    domain: 'internal',
  })
}
