import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { isoMicros } from '../../../src/connectors/duckdb/convert.ts'

describe('isoMicros', () => {
  test('agrees with Date.parse on millisecond timestamps across centuries, leap days and offsets', () => {
    for (let ms = Date.UTC(1890, 0, 1); ms < Date.UTC(2300, 0, 1); ms += 86_400_000 * 13.37 + 1234) {
      const iso = new Date(ms).toISOString()
      assert.equal(isoMicros(iso), BigInt(Date.parse(iso)) * 1000n, iso)
    }
    assert.equal(
      isoMicros('2024-02-29T23:59:59.999Z'),
      BigInt(Date.parse('2024-02-29T23:59:59.999Z')) * 1000n,
    )
    assert.equal(
      isoMicros('2026-11-25T10:00:00+01:30'),
      BigInt(Date.parse('2026-11-25T10:00:00+01:30')) * 1000n,
    )
    assert.equal(
      isoMicros('2026-11-25 10:00:00-0700'),
      BigInt(Date.parse('2026-11-25T10:00:00-07:00')) * 1000n,
    )
    assert.equal(isoMicros('2026-11-25T10:00+05'), BigInt(Date.parse('2026-11-25T10:00:00+05:00')) * 1000n)
    assert.equal(
      isoMicros('2026-11-25T10:00:00'),
      BigInt(Date.parse('2026-11-25T10:00:00Z')) * 1000n,
      'no zone: UTC',
    )
  })

  test('keeps microseconds and truncates nanoseconds', () => {
    const base = BigInt(Date.parse('2026-11-25T10:00:00Z')) * 1000n
    assert.equal(isoMicros('2026-11-25T10:00:00.123456Z'), base + 123_456n)
    assert.equal(isoMicros('2026-11-25T10:00:00.123456789Z'), base + 123_456n)
    assert.equal(isoMicros('2026-11-25T10:00:00.5Z'), base + 500_000n)
  })

  test('refuses what is not a real instant in this format', () => {
    for (const bad of [
      '2026-02-29T00:00:00Z',
      '2026-13-01T00:00:00Z',
      '2026-11-25T24:00:00Z',
      '2026-11-25T10:60:00Z',
      '2026-11-25',
      '2026-11-25T10:00:00.Z',
      '2026-11-25T10:00:00ZZ',
      '2026-11-25T10:00:00+25:00',
      'Nov 25 2026 10:00',
      '2026/11/25 10:00:00',
      '',
    ])
      assert.equal(isoMicros(bad), undefined, bad)
  })
})
