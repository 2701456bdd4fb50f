import { UsageError } from '../errors.ts'
import { type Aggregator, badSnapshot, type Selector } from './aggregator.ts'

export interface CollectOptions {
  /**
   * Keep at most this many values per key and window (default 1000); later ones are dropped. Collecting
   * without a bound is the classic way for a streaming job to run out of memory on one hot key, so lifting
   * it takes an explicit `max: Infinity`.
   */
  readonly max?: number
}

export const defaultCollectMax = 1000

/**
 * The field's values as an array, in the order they were added (merge(a, b) puts `a`'s first), skipping
 * null/undefined as SQL's collect_list does. Values are stored in checkpoints as they are, so they must be
 * plain JSON.
 */
export function collect<In, V>(
  selector: Selector<In, V | null | undefined>,
  options: CollectOptions = {},
): Aggregator<In, V[], V[]> {
  const max = options.max ?? defaultCollectMax
  if (!(max === Infinity || (Number.isSafeInteger(max) && max > 0))) {
    throw new UsageError(`collect(): max must be a positive integer or Infinity, got ${String(max)}`)
  }
  return {
    kind: 'collect',
    resultType: 'json',
    init: () => [],
    add: (acc, input) => {
      if (acc.length < max) {
        const value = selector(input)
        if (value != null) acc.push(value)
      }
      return acc
    },
    merge: (a, b) => {
      for (let i = 0; i < b.length && a.length < max; i++) a.push(b[i] as V)
      return a
    },
    result: (acc) => acc.slice(),
    encode: (acc) => acc.slice(),
    // A checkpoint taken with a larger max still restores; the excess is dropped as it would have been.
    decode: (snapshot) => {
      if (!Array.isArray(snapshot)) throw badSnapshot('collect', 'expected an array', snapshot)
      const values: V[] = snapshot
      return values.length > max ? values.slice(0, max) : values.slice()
    },
  }
}
