import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  type Aggregator,
  aggregates,
  approxCountDistinct,
  avg,
  collect,
  count,
  countDistinct,
  first,
  type InputOf,
  max,
  type OutputOf,
  sum,
} from '../../src/aggregate/index.ts'
import { SluiceError, UsageError } from '../../src/errors.ts'
import { checkLaws, fold, roundTrip, type Timed } from './laws.ts'

interface Click {
  readonly user_id: string
  readonly price: number
  readonly page: string
}

/** True only when A and B are the same type (not merely assignable). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false

/** Stands in for the DSL's `.aggregate()`, which gives aggregates() its row type from the stream. */
function aggregateClicks<Out>(aggregator: Aggregator<Click, unknown, Out>): Aggregator<Click, unknown, Out> {
  return aggregator
}

const clicks: Timed<Click>[] = [
  [{ user_id: 'u1', price: 3, page: '/a' }, 100],
  [{ user_id: 'u2', price: 4, page: '/c' }, 50],
  [{ user_id: 'u1', price: 5, page: '/b' }, 300],
]

describe('aggregates()', () => {
  test('infers the output row from annotated selectors', () => {
    const stats = aggregates({
      views: count(),
      revenue: sum((r: Click) => r.price),
      users: approxCountDistinct((r: Click) => r.user_id),
    })
    const row: { views: number; revenue: number; users: number } = stats.result(fold(stats, clicks))
    const exact: Equal<OutputOf<typeof stats>, { views: number; revenue: number; users: number }> = true
    const input: Equal<InputOf<typeof stats>, Click> = true
    // @ts-expect-error the rows are Clicks, not numbers
    stats.add(stats.init(), 5, 0)
    const union = aggregates({ n: approxCountDistinct((x: string | number) => x) })
    const unionInput: Equal<InputOf<typeof union>, string | number> = true
    assert.ok(exact && input && unionInput)
    assert.deepEqual(row, { views: 3, revenue: 12, users: 2 })
  })

  test('infers selector parameters from the context', () => {
    const stats = aggregateClicks(
      aggregates({
        views: count(),
        revenue: sum((r) => r.price),
        mean: avg((r) => r.price),
        top: max((r) => r.page),
        landing: first((r) => r.page),
        pages: collect((r) => r.page),
        distinctUsers: countDistinct((r) => r.user_id),
      }),
    )
    type Row = {
      views: number
      revenue: number
      mean: number | null
      top: string | null
      landing: string | null
      pages: string[]
      distinctUsers: number
    }
    const exact: Equal<OutputOf<typeof stats>, Row> = true
    const variable: Aggregator<Click, unknown, { revenue: number }> = aggregates({
      revenue: sum((r) => r.price),
    })
    assert.deepEqual(variable.result(fold(variable, clicks)), { revenue: 12 })
    const row: Row = stats.result(fold(stats, clicks))
    assert.ok(exact)
    assert.deepEqual(row, {
      views: 3,
      revenue: 12,
      mean: 4,
      top: '/c',
      landing: '/c',
      pages: ['/a', '/c', '/b'],
      distinctUsers: 2,
    })
  })

  test('type errors where the types disagree', () => {
    const stats = aggregates({ revenue: sum((r: Click) => r.price) })
    // @ts-expect-error revenue is a number
    const wrong: { revenue: string } = stats.result(stats.init())
    // @ts-expect-error a Click aggregator cannot read numbers
    const wrongInput: Aggregator<number, unknown, unknown> = aggregates({ page: max((r: Click) => r.page) })
    // @ts-expect-error price is a number, not a string field
    aggregates({ users: countDistinct((r: Click) => r.price > 1) })
    assert.ok(wrong !== undefined && wrongInput !== undefined)
  })

  test('obeys the aggregator laws', () => {
    const stats = aggregates({
      views: count(),
      revenue: sum((r: Click) => r.price),
      users: approxCountDistinct((r: Click) => r.user_id, { precision: 8 }),
      landing: first((r: Click) => r.page),
    })
    checkLaws(stats, clicks, { views: 3, revenue: 12, users: 2, landing: '/c' })
    checkLaws(stats, [], { views: 0, revenue: 0, users: 0, landing: null }, clicks[0])
  })

  test('kind names every part, independent of the order they are written in', () => {
    const a = aggregates({ views: count(), users: approxCountDistinct((r: Click) => r.user_id) })
    const b = aggregates({ users: approxCountDistinct((r: Click) => r.user_id), views: count() })
    assert.equal(a.kind, 'aggregates("users":approxCountDistinct(precision=14),"views":count)')
    assert.equal(b.kind, a.kind)
    // A snapshot from one restores into the other.
    assert.deepEqual(b.result(roundTrip(a, fold(a, clicks)) as never), { views: 3, users: 2 })
  })

  test('nests', () => {
    const nested = aggregates({
      totals: aggregates({ n: count(), sum: sum((r: Click) => r.price) }),
      top: max((r: Click) => r.price),
    })
    const exact: Equal<
      OutputOf<typeof nested>,
      { totals: { n: number; sum: number }; top: number | null }
    > = true
    assert.ok(exact)
    checkLaws(nested, clicks, { totals: { n: 3, sum: 12 }, top: 5 })
  })

  test('rejects empty records, non-aggregators and snapshots missing a part', () => {
    assert.throws(() => aggregates({}), UsageError)
    assert.throws(() => aggregates({ n: 5 as unknown as Aggregator<unknown, unknown, unknown> }), UsageError)
    const stats = aggregates({ views: count(), revenue: sum((r: Click) => r.price) })
    assert.throws(() => stats.decode({ views: 1 }), SluiceError)
    assert.throws(() => stats.decode([1, 2]), SluiceError)
  })
})
