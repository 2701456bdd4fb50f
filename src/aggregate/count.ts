import type { Aggregator } from './aggregator.ts'
import { decodeNumber } from './codec.ts'

/**
 * Counts rows, or with `where` the rows it accepts: `count((e) => e.event_type === 'page_view')`. Without
 * `where` every row counts, including rows whose fields are null.
 */
export function count<In = unknown>(where?: (row: In) => boolean): Aggregator<In, number, number> {
  return {
    kind: 'count',
    resultType: 'integer',
    init: () => 0,
    add: where ? (acc, input) => (where(input) ? acc + 1 : acc) : (acc) => acc + 1,
    merge: (a, b) => a + b,
    result: (acc) => acc,
    encode: (acc) => acc,
    decode: (snapshot) => decodeNumber('count', snapshot),
  }
}
