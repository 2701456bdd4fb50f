import { UsageError } from '../errors.ts'
import type { FieldType } from '../plan/row-type.ts'
import { type AccOf, type Aggregator, badSnapshot, type InputOf, type OutputOf } from './aggregator.ts'
import { isRecord } from './codec.ts'

/** Named aggregators over rows of type In. */
export type AggregatorRecord<In> = { readonly [name: string]: Aggregator<In, unknown, unknown> }

/**
 * The row type all of a record's aggregators accept: the intersection of their inputs. Inferred through
 * function parameters rather than a distributive conditional so that a union input stays a union.
 */
export type InputsOf<S> = {
  [K in keyof S]: (input: InputOf<S[K]>) => void
}[keyof S] extends (input: infer I) => void
  ? I
  : never

/** The accumulators of a record of aggregators, under the same names. */
export type AccsOf<S> = { -readonly [K in keyof S]: AccOf<S[K]> }

/** The results of a record of aggregators, under the same names: what one output row carries. */
export type OutputsOf<S> = { -readonly [K in keyof S]: OutputOf<S[K]> }

/**
 * Several aggregations computed in one pass, e.g.
 * `aggregates({ views: count(), revenue: sum((r: Click) => r.price) })` produces `{ views, revenue }` rows.
 * The engine only ever sees one Aggregator, so windows, sessions and checkpoints need no special case for
 * multiple columns.
 *
 * The row type comes from the context when there is one (the stream the result is applied to), otherwise from
 * the annotated selectors (`In & InputsOf<S>`: the context's type, narrowed by what the parts accept).
 */
export function aggregates<In = unknown, S extends AggregatorRecord<In> = AggregatorRecord<In>>(
  named: S,
): Aggregator<In & InputsOf<S>, AccsOf<S>, OutputsOf<S>> {
  const names = Object.keys(named).sort()
  if (names.length === 0) throw new UsageError('aggregates(): give at least one named aggregator')
  // Parallel arrays rather than Object.entries() per call: add() runs per row.
  const parts = names.map((name) => named[name] as Aggregator<In, unknown, unknown>)
  for (const [i, part] of parts.entries()) {
    if (typeof part?.add !== 'function')
      throw new UsageError(`aggregates(): "${names[i]}" is not an aggregator`)
  }
  // Keys sorted, so reordering the record in the source keeps checkpoints compatible.
  const kind = `aggregates(${names.map((name, i) => `${JSON.stringify(name)}:${parts[i]!.kind}`).join(',')})`
  type Accs = Record<string, unknown>
  const n = names.length
  const fields: Record<string, FieldType | undefined> = {}
  for (let i = 0; i < n; i++) {
    const type = parts[i]!.resultType
    fields[names[i]!] = typeof type === 'string' ? type : type === undefined ? undefined : 'json'
  }
  return {
    kind,
    resultType: { fields },
    init: () => {
      const acc: Accs = {}
      for (let i = 0; i < n; i++) acc[names[i]!] = parts[i]!.init()
      return acc as AccsOf<S>
    },
    add: (acc, input, eventTime) => {
      const accs = acc as Accs
      for (let i = 0; i < n; i++) {
        const name = names[i]!
        accs[name] = parts[i]!.add(accs[name], input, eventTime)
      }
      return acc
    },
    merge: (a, b) => {
      const left = a as Accs
      const right = b as Accs
      for (let i = 0; i < n; i++) {
        const name = names[i]!
        left[name] = parts[i]!.merge(left[name], right[name])
      }
      return a
    },
    result: (acc) => {
      const out: Accs = {}
      for (let i = 0; i < n; i++) out[names[i]!] = parts[i]!.result((acc as Accs)[names[i]!])
      return out as OutputsOf<S>
    },
    encode: (acc) => {
      const out: Accs = {}
      for (let i = 0; i < n; i++) out[names[i]!] = parts[i]!.encode((acc as Accs)[names[i]!])
      return out
    },
    decode: (snapshot) => {
      if (!isRecord(snapshot)) throw badSnapshot(kind, 'expected an object of named snapshots', snapshot)
      const acc: Accs = {}
      for (let i = 0; i < n; i++) {
        const name = names[i]!
        if (!(name in snapshot)) throw badSnapshot(kind, `missing "${name}"`, snapshot)
        acc[name] = parts[i]!.decode(snapshot[name])
      }
      return acc as AccsOf<S>
    },
  }
}
