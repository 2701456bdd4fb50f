import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { UsageError } from '../../src/errors.ts'
import { formatDuration, parseDuration } from '../../src/window/index.ts'

describe('parseDuration', () => {
  test('reads numbers as milliseconds and text with units', () => {
    const cases: [number | string, number][] = [
      [250, 250],
      ['500ms', 500],
      ['30s', 30_000],
      ['1m', 60_000],
      ['10min', 600_000],
      ['5 minutes', 300_000],
      ['1 minute', 60_000],
      ['1h', 3_600_000],
      ['2 hours', 7_200_000],
      ['1h30m', 5_400_000],
      ['1h 30m 15s', 5_415_000],
      ['1.5h', 5_400_000],
      ['.5s', 500],
      ['1.1s', 1100],
      ['0.001s', 1],
      ['7d', 604_800_000],
      ['1w', 604_800_000],
      ['  2 SECONDS ', 2000],
      ['3Sec', 3000],
      ['45 millis', 45],
    ]
    for (const [input, expected] of cases) assert.equal(parseDuration(input), expected, String(input))
  })

  test('refuses zero unless allowed', () => {
    assert.throws(() => parseDuration(0), /must be greater than zero/)
    assert.throws(
      () => parseDuration('0s', 'window size'),
      /Invalid window size "0s": must be greater than zero/,
    )
    assert.equal(parseDuration(0, 'delay', { allowZero: true }), 0)
    assert.equal(parseDuration('0ms', 'delay', { allowZero: true }), 0)
    assert.ok(Object.is(parseDuration(-0, 'delay', { allowZero: true }), 0))
  })

  test('explains what is wrong', () => {
    const cases: [unknown, RegExp][] = [
      ['', /use a number with a unit/],
      ['5 minuts', /unknown unit "minuts"/],
      ['500', /a unit is missing, e.g. "500ms" or "500s"/],
      ['-5m', /cannot be negative/],
      [-5, /non-negative/],
      [Number.NaN, /non-negative/],
      [Infinity, /non-negative/],
      [1.5, /whole number of milliseconds/],
      ['0.5ms', /whole number of milliseconds/],
      ['1.0001s', /whole number of milliseconds/],
      ['1 month', /months and years have no fixed length/],
      ['2y', /months and years/],
      ['m', /use a number with a unit/],
      ['1h30', /use a number with a unit/],
      ['5m!', /use a number with a unit/],
      ['1e3ms', /use a number with a unit/],
      ['99999999999999999999d', /too large/],
      [null, /expected a number of milliseconds or a string/],
      [undefined, /expected a number of milliseconds or a string/],
    ]
    for (const [input, message] of cases) {
      assert.throws(
        () => parseDuration(input as string, 'window size'),
        (e: unknown) =>
          e instanceof UsageError && message.test(e.message) && e.message.includes('window size'),
        String(input),
      )
    }
  })
})

describe('formatDuration', () => {
  test('writes the shortest text that parses back', () => {
    const cases: [number, string][] = [
      [0, '0ms'],
      [1, '1ms'],
      [1500, '1s500ms'],
      [60_000, '1m'],
      [5_400_000, '1h30m'],
      [86_400_000, '1d'],
      [90_061_001, '1d1h1m1s1ms'],
    ]
    for (const [ms, text] of cases) {
      assert.equal(formatDuration(ms), text)
      assert.equal(parseDuration(text, 'x', { allowZero: true }), ms)
    }
    assert.equal(formatDuration(-60_000), '-1m')
  })
})
