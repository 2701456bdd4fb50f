import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  type Aggregator,
  aggregator,
  avg,
  collect,
  count,
  countDistinct,
  first,
  last,
  max,
  min,
  sum,
} from '../../src/aggregate/index.ts'
import { SluiceError, UsageError } from '../../src/errors.ts'
import { checkLaws, fold, mulberry32, roundTrip, shuffle, type Timed } from './laws.ts'

interface Sale {
  readonly user: string
  readonly price: number | null
  readonly at?: string
}

const sales: Timed<Sale>[] = [
  [{ user: 'ann', price: 10, at: '2024-01-01T00:00:03Z' }, 3000],
  [{ user: 'bob', price: 2.5, at: '2024-01-01T00:00:01Z' }, 1000],
  [{ user: 'ann', price: null, at: '2024-01-01T00:00:09Z' }, 9000],
  [{ user: 'cyd', price: -4, at: '2024-01-01T00:00:05Z' }, 5000],
  [{ user: 'bob', price: 7, at: '2024-01-01T00:00:02Z' }, 2000],
]

/** Same result for every arrival order: what makes replays and merges deterministic. */
function checkOrderInsensitive<In, Acc, Out>(
  aggregator: Aggregator<In, Acc, Out>,
  rows: readonly Timed<In>[],
): void {
  const random = mulberry32(7)
  const expected = aggregator.result(fold(aggregator, rows))
  for (let i = 0; i < 20; i++) {
    assert.deepEqual(aggregator.result(fold(aggregator, shuffle(rows, random))), expected)
  }
}

describe('count', () => {
  test('counts rows, nulls included', () => {
    checkLaws(count(), sales, 5)
    checkLaws(count(), [], 0, [{}, 0])
    assert.equal(count().kind, 'count')
  })
  test('with a predicate, counts the rows it accepts', () => {
    const ann = count((s: Sale) => s.user === 'ann')
    checkLaws(ann, sales, 2)
    checkOrderInsensitive(ann, sales)
    checkLaws(ann, [], 0, sales[0])
    assert.equal(
      ann.kind,
      'count',
      'the same state as count(): a predicate changes what counts, not the format',
    )
  })
})

describe('sum', () => {
  const revenue = sum((s: Sale) => s.price)
  test('adds numbers and skips null', () => {
    checkLaws(revenue, sales, 15.5)
    checkOrderInsensitive(revenue, sales)
  })
  test('is 0 when empty', () => {
    checkLaws(revenue, [], 0, sales[0])
  })
  test('survives Infinity and NaN through a checkpoint', () => {
    const s = sum((x: number) => x)
    assert.equal(s.result(roundTrip(s, fold(s, [[Infinity, 0]]))), Infinity)
    assert.equal(s.result(roundTrip(s, fold(s, [[-Infinity, 0]]))), -Infinity)
    assert.ok(
      Number.isNaN(
        s.result(
          roundTrip(
            s,
            fold(s, [
              [Infinity, 0],
              [-Infinity, 0],
            ]),
          ),
        ),
      ),
    )
  })
  test('fails a row whose value is not a number, instead of concatenating', () => {
    const s = sum((x: { v: unknown }) => x.v as number)
    assert.throws(
      () => s.add(0, { v: '12.5' }, 0),
      (e: unknown) => e instanceof UsageError && /"12\.5"/.test(e.message),
    )
  })
})

describe('avg', () => {
  const mean = avg((s: Sale) => s.price)
  test('averages present values', () => {
    checkLaws(mean, sales, 15.5 / 4)
    checkLaws(
      avg((x: number) => x),
      [
        [1, 0],
        [2, 0],
        [6, 0],
      ],
      3,
    )
  })
  test('is null when empty or all null', () => {
    checkLaws(mean, [], null, sales[0])
    checkLaws(mean, [sales[2]!], null)
  })
  test('rejects bad snapshots', () => {
    assert.throws(() => mean.decode({ sum: 1 }), SluiceError)
    assert.throws(() => mean.decode({ sum: 'x', count: 1 }), SluiceError)
  })
})

describe('min and max', () => {
  test('numbers', () => {
    const lo = min((s: Sale) => s.price)
    const hi = max((s: Sale) => s.price)
    checkLaws(lo, sales, -4)
    checkLaws(hi, sales, 10)
    checkOrderInsensitive(lo, sales)
    checkOrderInsensitive(hi, sales)
  })
  test('ISO timestamps compare as strings', () => {
    checkLaws(
      min((s: Sale) => s.at),
      sales,
      '2024-01-01T00:00:01Z',
    )
    checkLaws(
      max((s: Sale) => s.at),
      sales,
      '2024-01-01T00:00:09Z',
    )
  })
  test('null when empty; null, undefined and NaN are skipped', () => {
    const lo = min((x: number | null | undefined) => x)
    checkLaws(lo, [], null, [1, 0])
    checkLaws(
      lo,
      [
        [null, 0],
        [undefined, 0],
      ],
      null,
    )
    checkLaws(
      max((x: number) => x),
      [
        [Number.NaN, 0],
        [3, 0],
        [Number.NaN, 0],
        [1, 0],
      ],
      3,
    )
  })
  test('keeps infinities through a checkpoint, distinct from the string "Infinity"', () => {
    const lo = min((x: number | string) => x)
    assert.equal(lo.result(roundTrip(lo, fold(lo, [[-Infinity, 0]]))), -Infinity)
    assert.equal(lo.result(roundTrip(lo, fold(lo, [['Infinity', 0]]))), 'Infinity')
  })
  test('fails rows that mix numbers and strings, or are objects', () => {
    const lo = min((x: unknown) => x as number)
    const acc = lo.add(lo.init(), 5, 0)
    assert.throws(() => lo.add(acc, '4', 0), UsageError)
    assert.throws(() => lo.merge(acc, '4' as unknown as number), UsageError)
    assert.throws(() => lo.add(lo.init(), { n: 1 }, 0), UsageError)
  })
})

describe('countDistinct', () => {
  const users = countDistinct((s: Sale) => s.user)
  test('counts exactly', () => {
    checkLaws(users, sales, 3)
    checkLaws(users, [], 0, sales[0])
    checkOrderInsensitive(users, sales)
  })
  test('1 and "1" differ; null is not counted; infinities round-trip', () => {
    const d = countDistinct((x: string | number | null) => x)
    checkLaws(
      d,
      [
        [1, 0],
        ['1', 0],
        [1, 0],
        [null, 0],
        [Infinity, 0],
        ['Infinity', 0],
      ],
      4,
    )
  })
  test('fails object values, which a Set would count by identity', () => {
    const d = countDistinct((x: unknown) => x as string)
    assert.throws(() => d.add(d.init(), { id: 1 }, 0), UsageError)
  })
})

describe('first and last', () => {
  const firstUser = first((s: Sale) => s.user)
  const lastUser = last((s: Sale) => s.user)
  test('are decided by event time, not arrival order', () => {
    checkLaws(firstUser, sales, 'bob')
    checkLaws(lastUser, sales, 'ann')
    checkOrderInsensitive(firstUser, sales)
    checkOrderInsensitive(lastUser, sales)
  })
  test('ties: first keeps the earlier-added row, last the later-added, also across merge(a, b)', () => {
    const tied: Timed<string>[] = [
      ['a', 5],
      ['b', 5],
      ['c', 5],
    ]
    checkLaws(
      first((x: string) => x),
      tied,
      'a',
    )
    checkLaws(
      last((x: string) => x),
      tied,
      'c',
    )
  })
  test('null when empty; ignoreNulls skips missing values', () => {
    checkLaws(firstUser, [], null, sales[0])
    const price = first((s: Sale) => s.price)
    const present = first((s: Sale) => s.price, { ignoreNulls: true })
    const early: Timed<Sale> = [{ user: 'x', price: null }, 0]
    checkLaws(price, [...sales, early], null)
    checkLaws(present, [...sales, early], 2.5)
    assert.equal(present.kind, 'first') // same state format: a checkpoint restores across the option
  })
  test('keep object values through a checkpoint', () => {
    const f = last((x: { id: number; tags: string[] }) => x)
    checkLaws(
      f,
      [
        [{ id: 1, tags: ['a'] }, 10],
        [{ id: 2, tags: [] }, 20],
      ],
      { id: 2, tags: [] },
    )
  })
})

describe('collect', () => {
  test('keeps arrival order, merge(a, b) puts a first, nulls skipped', () => {
    checkLaws(
      collect((s: Sale) => s.price),
      sales,
      [10, 2.5, -4, 7],
    )
    checkLaws(
      collect((s: Sale) => s.price),
      [],
      [],
      sales[0],
    )
  })
  test('is bounded', () => {
    const bounded = collect((x: number) => x, { max: 3 })
    const rows: Timed<number>[] = [1, 2, 3, 4, 5].map((x) => [x, 0])
    checkLaws(bounded, rows, [1, 2, 3])
    const defaults = fold(
      collect((x: number) => x),
      Array.from({ length: 1500 }, (_, i): Timed<number> => [i, 0]),
    )
    assert.equal(defaults.length, 1000)
    const unbounded = fold(
      collect((x: number) => x, { max: Infinity }),
      Array.from({ length: 1500 }, (_, i): Timed<number> => [i, 0]),
    )
    assert.equal(unbounded.length, 1500)
    // A checkpoint from a run with a larger max restores truncated.
    assert.deepEqual(bounded.decode([1, 2, 3, 4]), [1, 2, 3])
  })
  test('rejects a bad max', () => {
    for (const bad of [0, -1, 1.5, Number.NaN])
      assert.throws(() => collect((x: number) => x, { max: bad }), UsageError)
  })
})

describe('aggregator()', () => {
  interface Range {
    lo: number
    hi: number
  }
  const range = aggregator<number, Range | null, number | null>({
    kind: 'range',
    init: () => null,
    add: (acc, x) => (acc === null ? { lo: x, hi: x } : { lo: Math.min(acc.lo, x), hi: Math.max(acc.hi, x) }),
    merge: (a, b) =>
      a === null ? b : b === null ? a : { lo: Math.min(a.lo, b.lo), hi: Math.max(a.hi, b.hi) },
    result: (acc) => (acc === null ? null : acc.hi - acc.lo),
  })
  test('uses the definition, with identity encode/decode by default', () => {
    assert.equal(range.kind, 'custom:range')
    checkLaws(
      range,
      [
        [3, 0],
        [9, 0],
        [-1, 0],
      ],
      10,
    )
    assert.deepEqual(range.encode({ lo: 1, hi: 2 }), { lo: 1, hi: 2 })
  })
  test('uses custom encode/decode and passes the event time', () => {
    const span = aggregator<unknown, Set<number>, number>({
      kind: 'custom:times',
      init: () => new Set(),
      add: (acc, _row, t) => acc.add(t),
      merge: (a, b) => {
        for (const t of b) a.add(t)
        return a
      },
      result: (acc) => acc.size,
      encode: (acc) => [...acc],
      decode: (snapshot) => new Set(snapshot as number[]),
    })
    assert.equal(span.kind, 'custom:times')
    checkLaws(
      span,
      [
        [null, 1],
        [null, 2],
        [null, 1],
      ],
      2,
    )
  })
  test('rejects incomplete definitions', () => {
    assert.throws(
      () => aggregator({ ...{ init: () => 0, add: () => 0, merge: () => 0, result: () => 0 }, kind: ' ' }),
      UsageError,
    )
    const noMerge = { kind: 'x', init: () => 0, add: () => 0, result: () => 0 } as unknown as Parameters<
      typeof aggregator
    >[0]
    assert.throws(() => aggregator(noMerge), /merge must be a function/)
  })
})

describe('snapshots', () => {
  test('bad snapshots fail with an internal SluiceError naming the kind', () => {
    const cases: [Aggregator<never, unknown, unknown>, unknown][] = [
      [count(), 'x'],
      [sum((x: number) => x), null],
      [countDistinct((x: string) => x), { a: 1 }],
      [countDistinct((x: string) => x), [{}]],
      [first((x: string) => x), 5],
      [collect((x: string) => x), 'abc'],
    ]
    for (const [agg, snapshot] of cases) {
      assert.throws(
        () => agg.decode(snapshot),
        (e: unknown) =>
          e instanceof SluiceError &&
          e.domain === 'internal' &&
          e.code === 'SLUICE_AGGREGATE_STATE' &&
          e.message.includes(agg.kind),
      )
    }
  })
})
