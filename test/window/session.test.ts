import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { aggregates, collect, count, first, last, sum } from '../../src/aggregate/index.ts'
import {
  addToSessions,
  type Session,
  session,
  takeClosedSessions,
  type WindowBounds,
  windowClosed,
} from '../../src/window/index.ts'
import { mulberry32, shuffle } from '../aggregate/laws.ts'

interface Event {
  readonly t: number
  readonly id: number
}

const stats = aggregates({
  n: count(),
  total: sum((e: Event) => e.id),
  ids: collect((e: Event) => e.id, { max: Infinity }),
  opener: first((e: Event) => e.id),
  closer: last((e: Event) => e.id),
})

interface Expected extends WindowBounds {
  readonly n: number
  readonly total: number
  readonly ids: readonly number[]
  readonly opener: number | null
  readonly closer: number | null
}

/** Sort all events, cut wherever consecutive times are gap or more apart. */
function reference(events: readonly Event[], gap: number): Expected[] {
  const sorted = events.slice().sort((a, b) => a.t - b.t || a.id - b.id)
  const groups: Event[][] = []
  for (const event of sorted) {
    const group = groups.at(-1)
    if (group !== undefined && event.t - group.at(-1)!.t < gap) group.push(event)
    else groups.push([event])
  }
  return groups.map((group) => ({
    start: group[0]!.t,
    end: group.at(-1)!.t + gap,
    n: group.length,
    total: group.reduce((s, e) => s + e.id, 0),
    ids: group.map((e) => e.id).sort((a, b) => a - b),
    opener: group[0]!.id,
    closer: group.at(-1)!.id,
  }))
}

function play(events: readonly Event[], gap: number): Session<ReturnType<typeof stats.init>>[] {
  const sessions: Session<ReturnType<typeof stats.init>>[] = []
  for (const event of events) {
    const before = sessions.map(({ start, end }) => ({ start, end }))
    const update = addToSessions(sessions, event.t, gap, stats, event)
    assert.equal(update.sessions, sessions)
    assert.ok(update.session.start <= event.t && event.t < update.session.end)
    assert.ok(sessions.includes(update.session))
    // Removed = exactly the old bounds that are gone.
    const after = new Set(sessions.map((s) => `${s.start}:${s.end}`))
    const gone = before.filter((b) => !after.has(`${b.start}:${b.end}`))
    assert.deepEqual(update.removed, gone)
    checkInvariant(sessions)
  }
  return sessions
}

function checkInvariant(sessions: readonly Session<unknown>[]): void {
  for (let i = 1; i < sessions.length; i++) {
    assert.ok(sessions[i - 1]!.end <= sessions[i]!.start, 'sorted and disjoint')
  }
}

function summarize(sessions: readonly Session<ReturnType<typeof stats.init>>[]): Expected[] {
  return sessions.map((s) => {
    const r = stats.result(s.acc)
    return { start: s.start, end: s.end, ...r, ids: r.ids.sort((a, b) => a - b) }
  })
}

describe('addToSessions', () => {
  test('opens, extends, and bridges sessions, reporting what it replaced', () => {
    const gap = 10
    const sessions: Session<number>[] = []
    const n = count()
    let update = addToSessions(sessions, 100, gap, n, null)
    assert.deepEqual(update.removed, [])
    assert.deepEqual(sessions, [{ start: 100, end: 110, acc: 1 }])
    update = addToSessions(sessions, 105, gap, n, null)
    assert.deepEqual(update.removed, [{ start: 100, end: 110 }])
    assert.deepEqual(sessions, [{ start: 100, end: 115, acc: 2 }])
    update = addToSessions(sessions, 101, gap, n, null) // inside: no bounds change
    assert.deepEqual(update.removed, [])
    assert.equal(update.session, sessions[0])
    update = addToSessions(sessions, 122, gap, n, null)
    assert.deepEqual(sessions, [
      { start: 100, end: 115, acc: 3 },
      { start: 122, end: 132, acc: 1 },
    ])
    update = addToSessions(sessions, 92, gap, n, null) // late, extends the start
    assert.deepEqual(update.removed, [{ start: 100, end: 115 }])
    assert.deepEqual(sessions[0], { start: 92, end: 115, acc: 4 })
    update = addToSessions(sessions, 114, gap, n, null) // out of order: [114, 124) bridges both
    assert.deepEqual(update.removed, [
      { start: 92, end: 115 },
      { start: 122, end: 132 },
    ])
    assert.deepEqual(sessions, [{ start: 92, end: 132, acc: 6 }])
    assert.equal(update.session, sessions[0])
  })

  test('events exactly gap apart start a new session (touching is not overlapping)', () => {
    const sessions: Session<number>[] = []
    addToSessions(sessions, 0, 10, count(), null)
    addToSessions(sessions, 10, 10, count(), null)
    assert.deepEqual(sessions, [
      { start: 0, end: 10, acc: 1 },
      { start: 10, end: 20, acc: 1 },
    ])
    // Consistent with windowClosed: at watermark 10 the first is final, and an on-time event at 10 cannot change it.
    assert.equal(windowClosed(sessions[0]!, 10), true)
    addToSessions(sessions, 9, 10, count(), null)
    assert.deepEqual(sessions, [{ start: 0, end: 20, acc: 3 }])
  })

  test('any arrival order gives the sessions of the brute-force reference', () => {
    const random = mulberry32(99)
    for (let round = 0; round < 300; round++) {
      const gap = 1 + Math.floor(random() * 20)
      const count = 1 + Math.floor(random() * 40)
      const spread = count + Math.floor(random() * 600)
      const base = Math.round((random() - 0.5) * 1e6) // negative times too
      // Distinct times so first/last are well defined regardless of order; plus deliberate exact-gap pairs.
      const times = new Set<number>()
      while (times.size < count) {
        const t = base + Math.floor(random() * spread)
        times.add(t)
        if (random() < 0.2) times.add(t + gap)
      }
      const events = [...times].map((t, id) => ({ t, id }))
      const expected = reference(events, gap)
      for (let order = 0; order < 3; order++) {
        const sessions = play(shuffle(events, random), gap)
        assert.deepEqual(summarize(sessions), expected, `round ${round}, gap ${gap}`)
      }
    }
  })

  test('works with the session spec gap', () => {
    const { gap } = session('30m')
    const sessions: Session<number>[] = []
    const minute = 60_000
    for (const t of [0, 20 * minute, 45 * minute, 80 * minute]) addToSessions(sessions, t, gap, count(), null)
    assert.deepEqual(
      sessions.map((s) => [s.start / minute, s.end / minute, s.acc]),
      [
        [0, 75, 3],
        [80, 110, 1],
      ],
    )
  })
})

describe('takeClosedSessions', () => {
  test('removes and returns the closed prefix', () => {
    const sessions: Session<number>[] = []
    for (const t of [0, 5, 30, 60]) addToSessions(sessions, t, 10, count(), null)
    assert.deepEqual(takeClosedSessions(sessions, 14), [])
    assert.deepEqual(takeClosedSessions(sessions, 40), [
      { start: 0, end: 15, acc: 2 },
      { start: 30, end: 40, acc: 1 },
    ])
    assert.deepEqual(sessions, [{ start: 60, end: 70, acc: 1 }])
    assert.deepEqual(takeClosedSessions(sessions, 1000).length, 1)
    assert.deepEqual(sessions, [])
  })
})
