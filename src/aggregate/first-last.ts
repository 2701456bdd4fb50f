import { type Aggregator, badSnapshot, type Selector } from './aggregator.ts'
import { decodeNumber, encodeNumber, isRecord } from './codec.ts'

/** The value seen at the winning event time; null until a row arrives. */
export type FirstLastAcc<V> = { t: number; v: V } | null

export interface FirstLastOptions {
  /** Skip rows whose value is null or undefined, so the result is the first/last value that is present. */
  readonly ignoreNulls?: boolean
}

/**
 * The value of the row with the earliest event time. Arrival order would differ between a first run and a
 * replay (partitions interleave differently) and between merge orders, so event time decides; rows with equal
 * event times keep the one added first (and in merge(a, b), `a` counts as added first). Values are stored in
 * checkpoints as they are, so they must be plain JSON. Null for a window with no rows.
 */
export function first<In, V>(
  selector: Selector<In, V>,
  options: FirstLastOptions = {},
): Aggregator<In, FirstLastAcc<V>, V | null> {
  return byEventTime('first', selector, options, (t, current) => t < current)
}

/** The value of the row with the latest event time; equal event times take the one added last. */
export function last<In, V>(
  selector: Selector<In, V>,
  options: FirstLastOptions = {},
): Aggregator<In, FirstLastAcc<V>, V | null> {
  return byEventTime('last', selector, options, (t, current) => t >= current)
}

function byEventTime<In, V>(
  kind: 'first' | 'last',
  selector: Selector<In, V>,
  options: FirstLastOptions,
  wins: (t: number, current: number) => boolean,
): Aggregator<In, FirstLastAcc<V>, V | null> {
  const ignoreNulls = options.ignoreNulls ?? false
  const offer = (acc: FirstLastAcc<V>, t: number, v: V): FirstLastAcc<V> => {
    if (acc === null) return { t, v }
    if (wins(t, acc.t)) {
      acc.t = t
      acc.v = v
    }
    return acc
  }
  return {
    kind,
    init: () => null,
    add: (acc, input, eventTime) => {
      const value = selector(input)
      return ignoreNulls && value == null ? acc : offer(acc, eventTime, value)
    },
    // offer() copies b's fields rather than adopting b, which merge must leave untouched for later use.
    merge: (a, b) => (b === null ? a : offer(a, b.t, b.v)),
    result: (acc) => (acc === null ? null : acc.v),
    encode: (acc) => (acc === null ? null : { t: encodeNumber(acc.t), v: acc.v }),
    decode: (snapshot) => {
      if (snapshot === null) return null
      if (!isRecord(snapshot) || !('t' in snapshot))
        throw badSnapshot(kind, 'expected null or { t, v }', snapshot)
      return { t: decodeNumber(kind, snapshot['t'], snapshot), v: snapshot['v'] as V }
    },
  }
}
