import { type Aggregator, badSnapshot, type Selector } from './aggregator.ts'
import { decodeNumber, encodeNumber, isRecord } from './codec.ts'
import { wrongValue } from './values.ts'

export interface AvgAcc {
  sum: number
  count: number
}

/**
 * Averages a numeric field, skipping null/undefined. Keeps sum and count rather than a running mean so that
 * merges are exact; the result is null for a window with no values, since 0 would be a lie.
 */
export function avg<In>(
  selector: Selector<In, number | null | undefined>,
): Aggregator<In, AvgAcc, number | null> {
  return {
    kind: 'avg',
    resultType: 'number',
    init: () => ({ sum: 0, count: 0 }),
    add: (acc, input) => {
      const value = selector(input)
      if (typeof value === 'number') {
        acc.sum += value
        acc.count++
      } else if (value != null) {
        throw wrongValue('avg', 'a number', value)
      }
      return acc
    },
    merge: (a, b) => {
      a.sum += b.sum
      a.count += b.count
      return a
    },
    result: (acc) => (acc.count === 0 ? null : acc.sum / acc.count),
    encode: (acc) => ({ sum: encodeNumber(acc.sum), count: acc.count }),
    decode: (snapshot) => {
      if (!isRecord(snapshot) || !Number.isSafeInteger(snapshot['count'])) {
        throw badSnapshot('avg', 'expected { sum, count }', snapshot)
      }
      return { sum: decodeNumber('avg', snapshot['sum'], snapshot), count: snapshot['count'] as number }
    },
  }
}
