import type { Aggregator, Selector } from './aggregator.ts'
import { decodeScalar, encodeScalar, type Scalar } from './codec.ts'
import { wrongValue } from './values.ts'

/**
 * Smallest value of a field: numbers, or strings compared by UTF-16 code units, which orders ISO-8601
 * timestamps correctly as long as they share one format and zone offset ("…Z"). null/undefined and NaN are
 * skipped (NaN compares false with everything, so keeping it would make the result depend on arrival order);
 * mixing numbers and strings in one field fails the row. Null for a window with no values.
 */
export function min<In, T extends Scalar>(
  selector: Selector<In, T | null | undefined>,
): Aggregator<In, T | null, T | null> {
  return extreme('min', selector, (candidate, current) => candidate < current)
}

/** Largest value of a field; same rules as {@link min}. */
export function max<In, T extends Scalar>(
  selector: Selector<In, T | null | undefined>,
): Aggregator<In, T | null, T | null> {
  return extreme('max', selector, (candidate, current) => candidate > current)
}

function extreme<In, T extends Scalar>(
  kind: 'min' | 'max',
  selector: Selector<In, T | null | undefined>,
  wins: (candidate: T, current: T) => boolean,
): Aggregator<In, T | null, T | null> {
  const pick = (acc: T | null, value: T): T | null => {
    if (acc === null) return value
    if (typeof value !== typeof acc) throw wrongValue(kind, `a ${typeof acc} like the earlier values`, value)
    return wins(value, acc) ? value : acc
  }
  return {
    kind,
    init: () => null,
    add: (acc, input) => {
      const value = selector(input)
      if (typeof value === 'string' || (typeof value === 'number' && !Number.isNaN(value)))
        return pick(acc, value)
      if (value == null || typeof value === 'number') return acc
      throw wrongValue(kind, 'a number or string', value)
    },
    merge: (a, b) => (b === null ? a : pick(a, b)),
    result: (acc) => acc,
    encode: (acc) => (acc === null ? null : encodeScalar(acc)),
    decode: (snapshot) => (snapshot === null ? null : (decodeScalar(kind, snapshot) as T)),
  }
}
