import type { Aggregator } from '../aggregate/aggregator.ts'
import type { WindowBounds } from './spec.ts'

/** One session of one key: its bounds and its accumulator. */
export interface Session<Acc> extends WindowBounds {
  acc: Acc
}

export interface SessionUpdate<Acc> {
  /** The key's sessions after the event: the array that was passed in, updated in place. */
  readonly sessions: Session<Acc>[]
  /** The session that now holds the event. */
  readonly session: Session<Acc>
  /**
   * Sessions that no longer exist with these bounds, ascending: merged into `session`, or `session` itself
   * before it grew. An update-mode emitter must retract the rows it emitted for them, since a sink that upserts
   * by (key, start, end) would otherwise keep a stale row for every bound a session ever had.
   */
  readonly removed: readonly WindowBounds[]
}

/**
 * Adds one event of one key to that key's sessions: sorted by start, disjoint (the invariant this keeps).
 *
 * The event opens the window [t, t + gap), which is merged with every session it overlaps, combining their
 * accumulators with the aggregator's merge. Overlap is the only rule, so the final sessions depend only on
 * the set of event times, not on arrival order: an out-of-order event that falls between two sessions and
 * overlaps both joins them. Merged accumulators are combined in start order and the event is added last;
 * events in different sessions never share an event time, so first/last stay deterministic.
 *
 * Touching is not overlapping: an event exactly `gap` after the previous one starts a new session. Anything
 * else would contradict windowClosed(): at watermark = end the session is final and may have been emitted in
 * append mode, while an event at t = end is still on time and would have to reopen it.
 *
 * Mutates `sessions` and the accumulators (merge() mutates its first argument): this runs per event, and
 * copying a key's session list each time would be quadratic for long-lived keys.
 */
export function addToSessions<In, Acc>(
  sessions: Session<Acc>[],
  t: number,
  gap: number,
  aggregator: Aggregator<In, Acc, unknown>,
  input: In,
): SessionUpdate<Acc> {
  const end = t + gap
  // Sessions are disjoint and sorted, so their ends are sorted too: binary search the first end after t.
  let lo = 0
  let hi = sessions.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (sessions[mid]!.end <= t) lo = mid + 1
    else hi = mid
  }
  const first = lo
  let last = first
  while (last < sessions.length && sessions[last]!.start < end) last++
  // sessions[first, last) overlap [t, end).

  if (first === last) {
    const created: Session<Acc> = { start: t, end, acc: aggregator.add(aggregator.init(), input, t) }
    sessions.splice(first, 0, created)
    return { sessions, session: created, removed: [] }
  }
  const head = sessions[first]!
  const tail = sessions[last - 1]!
  if (first + 1 === last && head.start <= t && head.end >= end) {
    head.acc = aggregator.add(head.acc, input, t)
    return { sessions, session: head, removed: [] }
  }
  const removed: WindowBounds[] = []
  let acc = head.acc
  for (let i = first; i < last; i++) {
    const old = sessions[i]!
    removed.push({ start: old.start, end: old.end })
    if (i > first) acc = aggregator.merge(acc, old.acc)
  }
  const merged: Session<Acc> = {
    start: Math.min(head.start, t),
    end: Math.max(tail.end, end),
    acc: aggregator.add(acc, input, t),
  }
  sessions.splice(first, last - first, merged)
  return { sessions, session: merged, removed }
}

/**
 * Removes and returns the sessions that the watermark has closed (windowClosed), oldest first. They form a
 * prefix: sessions are disjoint and sorted, so their ends ascend with their starts.
 */
export function takeClosedSessions<Acc>(sessions: Session<Acc>[], watermark: number): Session<Acc>[] {
  let n = 0
  while (n < sessions.length && sessions[n]!.end <= watermark) n++
  return n === 0 ? [] : sessions.splice(0, n)
}
