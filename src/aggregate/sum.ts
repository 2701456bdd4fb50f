import type { Aggregator, Selector } from './aggregator.ts'
import { decodeNumber, encodeNumber } from './codec.ts'
import { wrongValue } from './values.ts'

/**
 * Sums a numeric field. null/undefined are skipped, as in SQL, so an optional field does not fail rows; an
 * empty window sums to 0 rather than null so that the result type stays `number`.
 */
export function sum<In>(selector: Selector<In, number | null | undefined>): Aggregator<In, number, number> {
  return {
    kind: 'sum',
    resultType: 'number',
    init: () => 0,
    add: (acc, input) => {
      const value = selector(input)
      if (typeof value === 'number') return acc + value
      if (value == null) return acc
      throw wrongValue('sum', 'a number', value)
    },
    merge: (a, b) => a + b,
    result: (acc) => acc,
    encode: (acc) => encodeNumber(acc),
    decode: (snapshot) => decodeNumber('sum', snapshot),
  }
}
