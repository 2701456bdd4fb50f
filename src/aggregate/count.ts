import type { Aggregator } from './aggregator.ts'
import { decodeNumber } from './codec.ts'

/** Counts rows, including rows whose fields are null: it has no selector to look at. */
export function count<In = unknown>(): Aggregator<In, number, number> {
  return {
    kind: 'count',
    resultType: 'integer',
    init: () => 0,
    add: (acc) => acc + 1,
    merge: (a, b) => a + b,
    result: (acc) => acc,
    encode: (acc) => acc,
    decode: (snapshot) => decodeNumber('count', snapshot),
  }
}
