import { UsageError } from '../errors.ts'
import { type Duration, formatDuration, parseDuration } from './duration.ts'

/** An event-time interval [start, end) in epoch milliseconds: an event at exactly `end` belongs to the next. */
export interface WindowBounds {
  readonly start: number
  readonly end: number
}

/** Fixed, non-overlapping windows: every event belongs to exactly one. */
export interface TumblingWindow {
  readonly kind: 'tumbling'
  readonly size: number
  /** Windows start at offset + k·size; 0 (omitted) aligns them with the epoch, i.e. UTC midnight for days. */
  readonly offset?: number
}

/** Fixed windows of `size` starting every `slide`: an event belongs to about size/slide of them. */
export interface HoppingWindow {
  readonly kind: 'hopping'
  readonly size: number
  readonly slide: number
  /** Windows start at offset + k·slide. */
  readonly offset?: number
}

/** Windows of activity per key, closed by `gap` without events; see session.ts. */
export interface SessionWindow {
  readonly kind: 'session'
  readonly gap: number
}

export type WindowSpec = TumblingWindow | HoppingWindow | SessionWindow

export interface WindowOptions {
  /**
   * Shifts window starts, e.g. tumbling('1d', { offset: '5h' }) for days that start at 05:00 UTC (midnight
   * in UTC-5). Must be smaller than the size (tumbling) or slide (hopping): larger offsets describe the same
   * windows as offset % period, and accepting both would make equal pipelines look different.
   */
  readonly offset?: Duration
}

/**
 * Each event is copied into every hopping window it belongs to, so hopping('1d', '1s') would do 86,400 state
 * updates per event: refused well before it melts the job.
 */
export const maxWindowsPerEvent = 10_000

export function tumbling(size: Duration, options: WindowOptions = {}): TumblingWindow {
  const sizeMs = parseDuration(size, 'tumbling window size')
  const offset = parseOffset(options.offset, sizeMs, 'size')
  return validateWindow(
    Object.freeze(
      offset === 0 ? { kind: 'tumbling', size: sizeMs } : { kind: 'tumbling', size: sizeMs, offset },
    ),
  )
}

/**
 * `slide` need not divide `size`: with hopping('10m', '3m') an event belongs to 3 or 4 windows depending on
 * where it falls. A slide larger than the size would leave gaps in which events belong to no window at all,
 * which is sampling, not windowing, so it is refused; slide === size is a tumbling window.
 */
export function hopping(size: Duration, slide: Duration, options: WindowOptions = {}): HoppingWindow {
  const sizeMs = parseDuration(size, 'hopping window size')
  const slideMs = parseDuration(slide, 'hopping window slide')
  const offset = parseOffset(options.offset, slideMs, 'slide')
  return validateWindow(
    Object.freeze(
      offset === 0
        ? { kind: 'hopping', size: sizeMs, slide: slideMs }
        : { kind: 'hopping', size: sizeMs, slide: slideMs, offset },
    ),
  )
}

/** A session per key that stays open while events keep arriving less than `gap` apart. */
export function session(gap: Duration): SessionWindow {
  return validateWindow(Object.freeze({ kind: 'session', gap: parseDuration(gap, 'session gap') }))
}

function parseOffset(offset: Duration | undefined, period: number, periodName: string): number {
  if (offset === undefined) return 0
  const ms = parseDuration(offset, 'window offset', { allowZero: true })
  if (ms >= period) {
    throw new UsageError(
      `Window offset ${formatDuration(ms)} must be smaller than the window ${periodName} ${formatDuration(period)}` +
        ` (use ${formatDuration(ms % period)}, which gives the same windows)`,
    )
  }
  return ms
}

/**
 * Checks a spec however it was made: the factories above call it, and so should anything that builds specs
 * from plain objects (a config file, a deserialised plan), since assignWindows trusts its input.
 */
export function validateWindow<S extends WindowSpec>(spec: S): S {
  const positive = (value: unknown, name: string): number => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
      throw new UsageError(
        `Invalid ${spec.kind} window: ${name} must be a positive whole number of ms, got ${String(value)}`,
      )
    }
    return value
  }
  switch (spec.kind) {
    case 'tumbling':
      checkOffset(spec.offset, positive(spec.size, 'size'), spec.kind)
      break
    case 'hopping': {
      const size = positive(spec.size, 'size')
      const slide = positive(spec.slide, 'slide')
      if (slide > size) {
        throw new UsageError(
          `Invalid hopping window: slide ${formatDuration(slide)} is larger than size ${formatDuration(size)}, ` +
            'so some events would fall in no window; use a slide up to the size',
        )
      }
      if (Math.ceil(size / slide) > maxWindowsPerEvent) {
        throw new UsageError(
          `Invalid hopping window: size ${formatDuration(size)} / slide ${formatDuration(slide)} puts each event in ` +
            `${Math.ceil(size / slide)} windows (at most ${maxWindowsPerEvent}); use a larger slide`,
        )
      }
      checkOffset(spec.offset, slide, spec.kind)
      break
    }
    case 'session':
      positive(spec.gap, 'gap')
      break
    default:
      throw new UsageError(`Unknown window kind ${JSON.stringify((spec as { kind?: unknown }).kind)}`)
  }
  return spec
}

function checkOffset(offset: unknown, period: number, kind: string): void {
  if (offset === undefined) return
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0 || offset >= period) {
    throw new UsageError(
      `Invalid ${kind} window: offset must be a whole number of ms in [0, ${period}), got ${String(offset)}`,
    )
  }
}

/** "tumbling(1m)", "hopping(10m every 1m)", "session(gap 30m)": for plan descriptions and error messages. */
export function describeWindow(spec: WindowSpec): string {
  const offset = spec.kind !== 'session' && spec.offset ? ` offset ${formatDuration(spec.offset)}` : ''
  switch (spec.kind) {
    case 'tumbling':
      return `tumbling(${formatDuration(spec.size)}${offset})`
    case 'hopping':
      return `hopping(${formatDuration(spec.size)} every ${formatDuration(spec.slide)}${offset})`
    case 'session':
      return `session(gap ${formatDuration(spec.gap)})`
  }
}
