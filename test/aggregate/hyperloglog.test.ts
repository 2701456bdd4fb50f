import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { murmur3 } from '../../src/aggregate/hyperloglog.ts'
import { approxCountDistinct, HyperLogLog, standardError } from '../../src/aggregate/index.ts'
import { SluiceError, UsageError } from '../../src/errors.ts'
import { checkLaws, fold, mulberry32, roundTrip, type Timed } from './laws.ts'

function sketchOf(values: Iterable<string>, precision = 14): HyperLogLog {
  const sketch = new HyperLogLog(precision)
  for (const value of values) sketch.add(value)
  return sketch
}

function* ids(prefix: string, from: number, to: number): Generator<string> {
  for (let i = from; i < to; i++) yield `${prefix}${i}`
}

function relativeError(estimate: number, n: number): number {
  return Math.abs(estimate - n) / n
}

describe('murmur3', () => {
  test('matches the reference x86_32 vectors (the hash is part of the checkpoint format)', () => {
    const utf8 = new TextEncoder()
    const vectors: [string, number, number][] = [
      ['', 0, 0],
      ['', 1, 0x514e28b7],
      ['test', 0, 0xba6bd213],
      ['Hello, world!', 0, 0xc0363e43],
      ['Hello, world!', 1234, 0xfaf6cdb3],
      ['The quick brown fox jumps over the lazy dog', 0, 0x2e4ff723],
    ]
    for (const [text, seed, expected] of vectors) {
      const bytes = utf8.encode(text)
      assert.equal(murmur3(bytes, bytes.length, seed), expected, text)
    }
  })
})

describe('HyperLogLog', () => {
  test('is accurate to 3 standard errors at 1e3, 1e5 and 1e6 distinct values', () => {
    const bound = 3 * standardError(14)
    assert.ok(Math.abs(bound - 3 * (1.04 / 128)) < 1e-12)
    for (const n of [1e3, 1e5, 1e6]) {
      const estimate = sketchOf(ids('user-', 0, n)).estimate()
      const error = relativeError(estimate, n)
      assert.ok(error <= bound, `n=${n}: estimate ${estimate}, error ${(error * 100).toFixed(3)}%`)
    }
  })

  test('is accurate across precisions, including around the small/large range switch', () => {
    const random = mulberry32(42)
    for (const precision of [8, 12, 16]) {
      const m = 2 ** precision
      for (const load of [0.5, 1, 2.5, 3, 5, 20]) {
        const n = Math.round(load * m)
        const salt = Math.floor(random() * 1e9).toString(36)
        const error = relativeError(sketchOf(ids(salt + ':', 0, n), precision).estimate(), n)
        assert.ok(
          error <= 3 * standardError(precision),
          `p=${precision} n=${n} error ${(error * 100).toFixed(2)}%`,
        )
      }
    }
  })

  test('counts small sets (almost) exactly', () => {
    assert.equal(new HyperLogLog().estimate(), 0)
    assert.equal(sketchOf(['only']).estimate(), 1)
    assert.equal(sketchOf(ids('x', 0, 10)).estimate(), 10)
    assert.ok(Math.abs(sketchOf(ids('x', 0, 100)).estimate() - 100) <= 1)
    assert.equal(sketchOf(['a', 'a', 'a', 'b']).estimate(), 2)
  })

  test('merge gives exactly the sketch of the union, and leaves the argument alone', () => {
    const a = sketchOf(ids('u', 0, 60_000))
    const b = sketchOf(ids('u', 40_000, 100_000))
    const bBefore = b.registers.slice()
    const union = sketchOf(ids('u', 0, 100_000))
    a.merge(b)
    assert.deepEqual(a.registers, union.registers)
    assert.deepEqual(b.registers, bBefore)
    assert.ok(relativeError(a.estimate(), 100_000) <= 3 * standardError(14))
    assert.throws(() => a.merge(new HyperLogLog(12)), UsageError)
  })

  test('hashes UTF-8, and numbers as their decimal text', () => {
    const sketch = sketchOf(['héllo', '日本', '😀', 'héllo', 'x'.repeat(1000)])
    assert.equal(sketch.estimate(), 4)
    sketch.add(42)
    const withText = sketchOf(['héllo', '日本', '😀', 'x'.repeat(1000), '42'])
    assert.deepEqual(sketch.registers, withText.registers)
  })

  test('the sparse form holds exactly the registers of a dense sketch, through the switch to dense', () => {
    const m = 2 ** 14
    for (const n of [0, 5, 500, 1024, 1500, 3000, 100_000]) {
      const sparse = new HyperLogLog(14)
      const dense = new HyperLogLog(14, new Uint8Array(m))
      for (const id of ids('d', 0, n)) {
        sparse.add(id)
        dense.add(id)
      }
      assert.deepEqual(sparse.registers, dense.registers, `n=${n}`)
      assert.equal(sparse.estimate(), dense.estimate(), `n=${n}`)
      assert.deepEqual(sparse.toSnapshot(), dense.toSnapshot(), `n=${n}`)
      if (n <= 500) assert.equal(sparse.sparse, true, `n=${n} should still be sparse`)
      if (n >= 3000) assert.equal(sparse.sparse, false, `n=${n} should be dense`)
    }
    assert.equal(HyperLogLog.fromSnapshot(sketchOf(ids('d', 0, 50)).toSnapshot()).sparse, true)
  })

  test('merges and clones give the same registers whichever forms meet', () => {
    const small = () => sketchOf(ids('a', 0, 300))
    const other = () => sketchOf(ids('b', 200, 700))
    const large = () => sketchOf(ids('c', 0, 20_000))
    const expected = (parts: HyperLogLog[]) => {
      const union = new HyperLogLog(14, new Uint8Array(2 ** 14))
      for (const part of parts) union.merge(part)
      return union.registers
    }
    for (const [a, b] of [
      [small, other],
      [small, large],
      [large, small],
      [large, large],
    ] as const) {
      const left = a()
      const right = b()
      const rightBefore = right.registers.slice()
      const copy = left.clone()
      left.merge(right)
      assert.deepEqual(left.registers, expected([a(), b()]))
      assert.deepEqual(right.registers, rightBefore)
      assert.deepEqual(copy.registers, a().registers, 'a clone does not change with the original')
    }
  })

  test('snapshots are sparse when small, dense when large, and restore exactly', () => {
    for (const n of [0, 1, 100, 3000, 50_000]) {
      const sketch = sketchOf(ids('s', 0, n))
      const snapshot = sketch.toSnapshot()
      assert.equal(snapshot.p, 14)
      assert.equal(snapshot.dense === undefined, n <= 3000, `n=${n}`)
      const restored = HyperLogLog.fromSnapshot(JSON.parse(JSON.stringify(snapshot)))
      assert.deepEqual(restored.registers, sketch.registers)
    }
    assert.ok(JSON.stringify(sketchOf(ids('s', 0, 10)).toSnapshot()).length < 100)
  })

  test('refuses corrupt snapshots', () => {
    const good = sketchOf(ids('s', 0, 10)).toSnapshot()
    const dense = sketchOf(ids('s', 0, 50_000)).toSnapshot()
    const bad: unknown[] = [
      null,
      { p: 3, sparse: '' },
      { p: 14 },
      { p: 14, sparse: 'not base64!' },
      { p: 14, sparse: 'AAAA' + good.sparse },
      { p: 14, sparse: good.sparse?.slice(4) + 'AAAA' },
      { p: 14, dense: dense.dense?.slice(4) },
      { p: 14, sparse: Buffer.from([0, 0, 63]).toString('base64') },
    ]
    for (const snapshot of bad)
      assert.throws(() => HyperLogLog.fromSnapshot(snapshot), SluiceError, JSON.stringify(snapshot))
  })

  test('rejects precisions outside 4..18', () => {
    for (const precision of [3, 19, 14.5]) {
      assert.throws(() => new HyperLogLog(precision), UsageError)
      assert.throws(() => approxCountDistinct((x: string) => x, { precision }), UsageError)
    }
  })
})

describe('approxCountDistinct', () => {
  const users = approxCountDistinct((row: { user: string | number | null }) => row.user, { precision: 10 })
  const rows: Timed<{ user: string | number | null }>[] = [
    [{ user: 'a' }, 0],
    [{ user: 'b' }, 0],
    [{ user: null }, 0],
    [{ user: 'a' }, 0],
    [{ user: 7 }, 0],
  ]

  test('obeys the aggregator laws', () => {
    checkLaws(users, rows, 3)
    checkLaws(users, [], 0, rows[0])
  })

  test('kind records the precision; other precisions are refused on restore', () => {
    assert.equal(users.kind, 'approxCountDistinct(precision=10)')
    const other = approxCountDistinct((row: { user: string | number | null }) => row.user, { precision: 11 })
    const snapshot = JSON.parse(JSON.stringify(other.encode(fold(other, rows))))
    assert.throws(() => users.decode(snapshot), SluiceError)
    assert.equal(users.result(roundTrip(users, fold(users, rows))), 3)
  })

  test('fails object values', () => {
    const bad = approxCountDistinct((x: unknown) => x as string)
    assert.throws(() => bad.add(bad.init(), {}, 0), UsageError)
  })
})
