import assert from 'node:assert/strict'
import type { Aggregator } from '../../src/aggregate/index.ts'

/** A row with its event time, as the engine feeds aggregators. */
export type Timed<In> = readonly [row: In, eventTime: number]

export function fold<In, Acc, Out>(aggregator: Aggregator<In, Acc, Out>, rows: readonly Timed<In>[]): Acc {
  let acc = aggregator.init()
  for (const [row, t] of rows) acc = aggregator.add(acc, row, t)
  return acc
}

/** Through JSON text, as a checkpoint stores it. */
export function roundTrip<In, Acc, Out>(aggregator: Aggregator<In, Acc, Out>, acc: Acc): Acc {
  const text = JSON.stringify(aggregator.encode(acc))
  return aggregator.decode(JSON.parse(text))
}

/**
 * The contract the engine relies on, checked for one input: folding all rows gives `expected`; so does merging
 * the folds of any prefix and suffix (merge leaves its second argument alone); a JSON round trip preserves
 * the result and later behaviour; results do not alias live state; empty accumulators merge to empty.
 */
export function checkLaws<In, Acc, Out>(
  aggregator: Aggregator<In, Acc, Out>,
  rows: readonly Timed<In>[],
  expected: Out,
  more: Timed<In> = rows[0]!,
): void {
  const all = fold(aggregator, rows)
  assert.deepEqual(aggregator.result(all), expected, 'fold')
  for (let k = 0; k <= rows.length; k++) {
    const a = fold(aggregator, rows.slice(0, k))
    const b = fold(aggregator, rows.slice(k))
    const bBefore = JSON.stringify(aggregator.encode(b))
    assert.deepEqual(aggregator.result(aggregator.merge(a, b)), expected, `merge at ${k}`)
    assert.equal(JSON.stringify(aggregator.encode(b)), bBefore, `merge at ${k} changed its second argument`)
  }
  const restored = roundTrip(aggregator, fold(aggregator, rows))
  assert.deepEqual(aggregator.result(restored), expected, 'round trip')
  const live = fold(aggregator, rows)
  const emitted = aggregator.result(live)
  const emittedCopy = structuredClone(emitted)
  const grown = aggregator.add(live, more[0], more[1])
  assert.deepEqual(emitted, emittedCopy, 'result aliases live state')
  assert.deepEqual(
    aggregator.result(aggregator.add(restored, more[0], more[1])),
    aggregator.result(grown),
    'after round trip',
  )
  const empty = aggregator.result(aggregator.init())
  assert.deepEqual(
    aggregator.result(aggregator.merge(aggregator.init(), aggregator.init())),
    empty,
    'empty merge',
  )
  assert.deepEqual(aggregator.result(roundTrip(aggregator, aggregator.init())), empty, 'empty round trip')
}

/** Deterministic PRNG for reproducible random tests. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const out = items.slice()
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}
