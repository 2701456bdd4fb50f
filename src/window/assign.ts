import type { WindowBounds, WindowSpec } from './spec.ts'

/** a mod n with the sign of n: `%` keeps the sign of a, which would put pre-1970 events in the wrong window. */
export function floorMod(a: number, n: number): number {
  const r = a % n
  return r < 0 ? r + n : r + 0 // + 0 turns -0 (from -5 % 5) into 0
}

/** Start of the window of length `period` (aligned to `offset`) that contains t. */
export function alignedStart(t: number, period: number, offset = 0): number {
  return t - floorMod(t - offset, period) + 0 // no -0 starts for t = -0
}

/**
 * The windows event time `t` belongs to, ascending by start. Tumbling: exactly one. Hopping: every window
 * with start <= t < end, i.e. ceil(size/slide) or floor(size/slide) of them. Session: the event's own window
 * [t, t + gap), before merging with the key's other sessions (addToSessions does that).
 */
export function assignWindows(spec: WindowSpec, t: number): WindowBounds[] {
  switch (spec.kind) {
    case 'tumbling': {
      const start = alignedStart(t, spec.size, spec.offset)
      return [{ start, end: start + spec.size }]
    }
    case 'hopping': {
      const { size, slide } = spec
      const last = alignedStart(t, slide, spec.offset)
      // Starts s with s <= t < s + size: from `last` back while s > t - size.
      const n = Math.ceil((last - t + size) / slide)
      const windows = new Array<WindowBounds>(n)
      for (let i = 0; i < n; i++) {
        const start = last - (n - 1 - i) * slide
        windows[i] = { start, end: start + size }
      }
      return windows
    }
    case 'session':
      return [{ start: t, end: t + spec.gap }]
  }
}

/**
 * True once no on-time event can change the window any more. Events at or after the watermark are on time,
 * and the window holds only events before `end`, so it is complete as soon as end <= watermark.
 */
export function windowClosed(bounds: WindowBounds, watermark: number): boolean {
  return bounds.end <= watermark
}
