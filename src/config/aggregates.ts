import {
  type Aggregator,
  aggregates,
  approxCountDistinct,
  avg,
  collect,
  count,
  countDistinct,
  first,
  last,
  max,
  min,
  sum,
} from '../aggregate/index.ts'
import type { AggregateFunctionDocument } from './document.ts'
import type { CompiledExpression } from './expression.ts'

/**
 * Aggregates of a pipeline file. Their expressions are not evaluated inside the aggregators: an aggregator that
 * throws would stop the pipeline, and a hopping window would evaluate them once per window. The compiler puts a
 * step in front of keyBy that evaluates the key and every aggregate input once per record (a failure there
 * dead-letters the record with the reason) and checks the value's type; the aggregators read the results.
 */

/** What the step in front of keyBy hands on: the key and one input per aggregate field, in field order. */
export interface AggregateInput {
  readonly key: unknown
  readonly inputs: readonly unknown[]
}

type Kind = Exclude<AggregateFunctionDocument, 'count'>['kind'] | 'count'

/** The values each function accepts, checked per record before the aggregator sees them. */
const ACCEPTS: Record<Kind, { readonly what: string; readonly ok: (v: unknown) => boolean }> = {
  count: { what: 'nothing', ok: () => true },
  sum: { what: 'a number', ok: (v) => typeof v === 'number' || v == null },
  avg: { what: 'a number', ok: (v) => typeof v === 'number' || v == null },
  min: { what: 'a number or string', ok: scalar },
  max: { what: 'a number or string', ok: scalar },
  countDistinct: { what: 'a number or string', ok: scalar },
  approxCountDistinct: { what: 'a number or string', ok: scalar },
  first: { what: 'any value', ok: () => true },
  last: { what: 'any value', ok: () => true },
  collect: { what: 'any value', ok: () => true },
}

function scalar(v: unknown): boolean {
  return typeof v === 'number' || typeof v === 'string' || v == null
}

/** One aggregate field: its function, and its input expression (none for count). */
export interface AggregateField {
  readonly name: string
  readonly fn: AggregateFunctionDocument
  readonly input: CompiledExpression | undefined
}

export function kindOf(fn: AggregateFunctionDocument): Kind {
  return fn === 'count' ? 'count' : fn.kind
}

/** The expression text of an aggregate function, and the document path of that text below the function. */
export function inputExpression(fn: AggregateFunctionDocument): { text: string; path: string[] } | undefined {
  if (fn === 'count' || fn.kind === 'count') return undefined
  const value = fn.value
  if (typeof value === 'string') return { text: value, path: [fn.kind] }
  return { text: value.expr, path: [fn.kind, 'expr'] }
}

/** Evaluates a field's input for one record, checking it is what the function accepts. */
export function evaluateInput(field: AggregateField, event: unknown): unknown {
  if (!field.input) return null
  const value = field.input.evaluate(event)
  const accepts = ACCEPTS[kindOf(field.fn)]
  if (!accepts.ok(value)) {
    throw new Error(
      `aggregate ${field.name} (${kindOf(field.fn)}) needs ${accepts.what}, got ${JSON.stringify(value)} from ${JSON.stringify(field.input.source)}`,
    )
  }
  return value
}

/** The aggregators of an `aggregate:` step, reading the pre-evaluated inputs. */
export function buildAggregator(fields: readonly AggregateField[]): Aggregator<unknown, unknown, unknown> {
  const named: Record<string, Aggregator<AggregateInput, unknown, unknown>> = {}
  for (const [i, field] of fields.entries()) {
    const at = (row: AggregateInput) => row.inputs[i]
    named[field.name] = one(field.fn, at)
  }
  return aggregates(named) as Aggregator<unknown, unknown, unknown>
}

type At = (row: AggregateInput) => unknown

function one(fn: AggregateFunctionDocument, at: At): Aggregator<AggregateInput, unknown, unknown> {
  if (fn === 'count') return count<AggregateInput>() as Aggregator<AggregateInput, unknown, unknown>
  const number = at as (row: AggregateInput) => number | null
  const scalarAt = at as (row: AggregateInput) => string | number | null
  const agg = (() => {
    switch (fn.kind) {
      case 'count':
        return count<AggregateInput>()
      case 'sum':
        return sum(number)
      case 'avg':
        return avg(number)
      case 'min':
        return min(scalarAt)
      case 'max':
        return max(scalarAt)
      case 'countDistinct':
        return countDistinct(scalarAt)
      case 'approxCountDistinct':
        return approxCountDistinct(
          scalarAt,
          typeof fn.value === 'string' || fn.value.precision === undefined
            ? {}
            : { precision: fn.value.precision },
        )
      case 'first':
        return first(at)
      case 'last':
        return last(at)
      case 'collect':
        return collect(
          at,
          typeof fn.value === 'string' || fn.value.max === undefined ? {} : { max: fn.value.max },
        )
    }
  })()
  return agg as Aggregator<AggregateInput, unknown, unknown>
}
