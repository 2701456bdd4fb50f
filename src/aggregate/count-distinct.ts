import { type Aggregator, badSnapshot, type Selector } from './aggregator.ts'
import { decodeScalar, encodeScalar, type Scalar } from './codec.ts'
import { wrongValue } from './values.ts'

/**
 * Exact number of distinct values: memory grows with the number of distinct values per key and window, so
 * prefer approxCountDistinct() for unbounded domains such as user ids. Values are compared as JavaScript
 * Set members: 1 and "1" are different values. null/undefined are not counted. Objects fail the row, since a
 * Set would count each one as distinct by identity and the result would always be the row count.
 */
export function countDistinct<In>(
  selector: Selector<In, Scalar | null | undefined>,
): Aggregator<In, Set<Scalar>, number> {
  return {
    kind: 'countDistinct',
    resultType: 'integer',
    init: () => new Set(),
    add: (acc, input) => {
      const value = selector(input)
      if (typeof value === 'string' || typeof value === 'number') acc.add(value)
      else if (value != null) throw wrongValue('countDistinct', 'a number or string', value)
      return acc
    },
    merge: (a, b) => {
      for (const value of b) a.add(value)
      return a
    },
    result: (acc) => acc.size,
    encode: (acc) => Array.from(acc, encodeScalar),
    decode: (snapshot) => {
      if (!Array.isArray(snapshot))
        throw badSnapshot('countDistinct', 'expected an array of values', snapshot)
      const values: unknown[] = snapshot
      return new Set(values.map((value) => decodeScalar('countDistinct', value, snapshot)))
    },
  }
}
