import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { UsageError } from '../../src/errors.ts'
import {
  assignWindows,
  describeWindow,
  floorMod,
  hopping,
  session,
  tumbling,
  validateWindow,
  type WindowBounds,
  type WindowSpec,
  windowClosed,
} from '../../src/window/index.ts'
import { mulberry32 } from '../aggregate/laws.ts'

/** Every window [offset + k·period, … + size) that contains t, by scanning k: slow and obviously right. */
function reference(size: number, period: number, offset: number, t: number): WindowBounds[] {
  const out: WindowBounds[] = []
  const around = Math.trunc((t - offset) / period)
  for (let k = around - Math.ceil(size / period) - 2; k <= around + 2; k++) {
    const start = offset + k * period
    if (start <= t && t < start + size) out.push({ start, end: start + size })
  }
  return out
}

function randomTime(random: () => number): number {
  // Mostly ms around the epoch (negative = before 1970), some far away, some exactly on boundaries.
  const r = random()
  if (r < 0.2) return Math.round((random() - 0.5) * 2e5)
  if (r < 0.3) return Math.round((random() - 0.5) * 60) * 60_000
  return Math.round((random() - 0.5) * 2 * 4e12)
}

describe('window specs', () => {
  test('factories parse durations and freeze', () => {
    assert.deepEqual(tumbling('1m'), { kind: 'tumbling', size: 60_000 })
    assert.deepEqual(tumbling('1d', { offset: '5h' }), {
      kind: 'tumbling',
      size: 86_400_000,
      offset: 18_000_000,
    })
    assert.deepEqual(hopping('10m', '1m'), { kind: 'hopping', size: 600_000, slide: 60_000 })
    assert.deepEqual(hopping(10, 3, { offset: 2 }), { kind: 'hopping', size: 10, slide: 3, offset: 2 })
    assert.deepEqual(tumbling('1m', { offset: 0 }), { kind: 'tumbling', size: 60_000 })
    assert.deepEqual(session('30 minutes'), { kind: 'session', gap: 1_800_000 })
    assert.ok(Object.isFrozen(tumbling('1s')))
  })

  test('refuse windows that make no sense, saying why', () => {
    const cases: [() => unknown, RegExp][] = [
      [() => tumbling(0), /greater than zero/],
      [() => tumbling('1m', { offset: '1m' }), /offset 1m must be smaller than the window size 1m \(use 0ms/],
      [() => tumbling('1h', { offset: '90m' }), /use 30m/],
      [() => hopping('1m', '2m'), /slide 2m is larger than size 1m/],
      [() => hopping('1m', 0), /greater than zero/],
      [() => hopping('1d', '1s'), /86400 windows \(at most 10000\)/],
      [() => hopping('10m', '1m', { offset: '1m' }), /smaller than the window slide/],
      [() => session('-1s'), /negative/],
      [() => validateWindow({ kind: 'tumbling', size: 1.5 }), /size must be a positive whole number/],
      [() => validateWindow({ kind: 'session', gap: 0 }), /gap must be a positive/],
      [() => validateWindow({ kind: 'tumbling', size: 10, offset: -1 }), /offset must be/],
      [
        () => validateWindow({ kind: 'sliding', size: 1 } as unknown as WindowSpec),
        /Unknown window kind "sliding"/,
      ],
    ]
    for (const [make, message] of cases) {
      assert.throws(make, (e: unknown) => e instanceof UsageError && message.test(e.message), String(message))
    }
    assert.doesNotThrow(() => hopping('10m', '3m'))
    assert.doesNotThrow(() => hopping('1m', '1m'))
  })

  test('describe', () => {
    assert.equal(describeWindow(tumbling('1m')), 'tumbling(1m)')
    assert.equal(describeWindow(tumbling('1d', { offset: '5h' })), 'tumbling(1d offset 5h)')
    assert.equal(describeWindow(hopping('10m', '1m')), 'hopping(10m every 1m)')
    assert.equal(describeWindow(session('30m')), 'session(gap 30m)')
  })
})

describe('assignWindows', () => {
  test('floorMod keeps the sign of the divisor', () => {
    assert.equal(floorMod(7, 5), 2)
    assert.equal(floorMod(-7, 5), 3)
    assert.equal(floorMod(-5, 5), 0)
  })

  test('tumbling: the one window containing t, also before 1970', () => {
    const spec = tumbling('1m')
    assert.deepEqual(assignWindows(spec, 0), [{ start: 0, end: 60_000 }])
    assert.deepEqual(assignWindows(spec, 59_999), [{ start: 0, end: 60_000 }])
    assert.deepEqual(assignWindows(spec, 60_000), [{ start: 60_000, end: 120_000 }])
    assert.deepEqual(assignWindows(spec, -1), [{ start: -60_000, end: 0 }])
    assert.deepEqual(assignWindows(spec, -60_000), [{ start: -60_000, end: 0 }])
    const day = tumbling('1d', { offset: '5h' })
    const t = Date.parse('2024-03-10T03:00:00Z')
    assert.deepEqual(assignWindows(day, t), [
      { start: Date.parse('2024-03-09T05:00:00Z'), end: Date.parse('2024-03-10T05:00:00Z') },
    ])
  })

  test('hopping: every window containing t, ascending', () => {
    assert.deepEqual(assignWindows(hopping(10, 5), 12), [
      { start: 5, end: 15 },
      { start: 10, end: 20 },
    ])
    assert.deepEqual(assignWindows(hopping(10, 3), 0), [
      { start: -9, end: 1 },
      { start: -6, end: 4 },
      { start: -3, end: 7 },
      { start: 0, end: 10 },
    ])
    assert.deepEqual(assignWindows(hopping(10, 3), 1), [
      { start: -6, end: 4 },
      { start: -3, end: 7 },
      { start: 0, end: 10 },
    ])
  })

  test('session: the event window before merging', () => {
    assert.deepEqual(assignWindows(session(30), -7), [{ start: -7, end: 23 }])
  })

  test('matches a brute-force reference over random times and specs', () => {
    const random = mulberry32(2024)
    const specs: WindowSpec[] = [tumbling(1), tumbling(7), tumbling('1m'), tumbling('1d', { offset: '5h' })]
    for (let i = 0; i < 40; i++) {
      const slide = 1 + Math.floor(random() * 20)
      const size =
        slide * (1 + Math.floor(random() * 5)) + (random() < 0.5 ? Math.floor(random() * slide) : 0)
      const offset = Math.floor(random() * slide)
      specs.push(hopping(size, slide, { offset }))
      specs.push(tumbling(size, { offset: Math.floor(random() * size) }))
    }
    specs.push(hopping('1h', '5m'), hopping('1d', '1h', { offset: '30m' }), hopping('10m', '3m'))
    for (const spec of specs) {
      assert.notEqual(spec.kind, 'session')
      if (spec.kind === 'session') continue
      const period = spec.kind === 'hopping' ? spec.slide : spec.size
      for (let i = 0; i < 300; i++) {
        const t = randomTime(random)
        const expected = reference(spec.size, period, spec.offset ?? 0, t)
        const actual = assignWindows(spec, t)
        assert.deepEqual(actual, expected, `${describeWindow(spec)} at ${t}`)
        const perEvent = Math.floor(spec.size / period)
        assert.ok(actual.length === perEvent || actual.length === Math.ceil(spec.size / period))
      }
    }
  })

  test('windowClosed: closed once the watermark reaches the end', () => {
    const bounds = { start: 0, end: 60_000 }
    assert.equal(windowClosed(bounds, 59_999), false)
    assert.equal(windowClosed(bounds, 60_000), true)
    assert.equal(windowClosed(bounds, 60_001), true)
  })
})
