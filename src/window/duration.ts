import { UsageError } from '../errors.ts'

/** Milliseconds, or text such as "500ms", "30s", "5m", "10min", "1h30m", "5 minutes", "1.5h", "7d". */
export type Duration = number | string

export interface ParseDurationOptions {
  /** Zero is rarely meant (a zero window size or poll interval), so it is refused unless asked for. */
  readonly allowZero?: boolean
}

const second = 1000
const minute = 60 * second
const hour = 60 * minute
const day = 24 * hour

const units: Readonly<Record<string, number>> = {
  ms: 1,
  msec: 1,
  msecs: 1,
  millis: 1,
  millisecond: 1,
  milliseconds: 1,
  s: second,
  sec: second,
  secs: second,
  second: second,
  seconds: second,
  m: minute,
  min: minute,
  mins: minute,
  minute: minute,
  minutes: minute,
  h: hour,
  hr: hour,
  hrs: hour,
  hour: hour,
  hours: hour,
  d: day,
  day: day,
  days: day,
  w: 7 * day,
  week: 7 * day,
  weeks: 7 * day,
}

const hint = 'use a number with a unit (ms, s, m, h, d, w), e.g. "500ms", "30s", "5m", "1h30m"'
const whole = /^(?:\s*(?:\d+(?:\.\d*)?|\.\d+)\s*[a-z]+)+\s*$/i
const part = /(\d+)?(?:\.(\d*))?\s*([a-z]+)/gi

/**
 * A duration in whole milliseconds, the resolution of event times. Throws a UsageError naming `what` (e.g.
 * "window size"), since durations come straight from user code, flags and config files.
 *
 * Numbers are milliseconds. Text is one or more number-unit pairs, case-insensitive; fractions are fine as
 * long as the total is a whole number of milliseconds. A bare number in text ("500") is refused rather than
 * guessed: "500" meaning 500 ms or 500 s is exactly the kind of bug that takes a day to find.
 */
export function parseDuration(
  duration: Duration,
  what = 'duration',
  options: ParseDurationOptions = {},
): number {
  const ms = typeof duration === 'number' ? checkNumber(duration, what) : parseText(duration, what)
  if (ms === 0 && options.allowZero !== true) {
    throw new UsageError(`Invalid ${what} ${show(duration)}: must be greater than zero`)
  }
  return ms
}

function checkNumber(ms: number, what: string): number {
  if (!Number.isFinite(ms) || ms < 0) {
    throw new UsageError(
      `Invalid ${what} ${String(ms)}: must be a non-negative number of milliseconds, or ${hint}`,
    )
  }
  if (!Number.isSafeInteger(ms)) {
    throw new UsageError(`Invalid ${what} ${String(ms)}: must be a whole number of milliseconds`)
  }
  return ms === 0 ? 0 : ms // no -0
}

function parseText(text: string, what: string): number {
  if (typeof text !== 'string') {
    throw new UsageError(
      `Invalid ${what} ${show(text)}: expected a number of milliseconds or a string; ${hint}`,
    )
  }
  const trimmed = text.trim()
  if (trimmed.startsWith('-'))
    throw new UsageError(`Invalid ${what} ${show(text)}: durations cannot be negative`)
  if (/^\d+(?:\.\d*)?$/.test(trimmed)) {
    throw new UsageError(
      `Invalid ${what} ${show(text)}: a unit is missing, e.g. "${trimmed}ms" or "${trimmed}s"`,
    )
  }
  if (!whole.test(trimmed)) throw new UsageError(`Invalid ${what} ${show(text)}: ${hint}`)
  let total = 0
  for (const [, integer = '', fraction = '', unitName = ''] of trimmed.matchAll(part)) {
    const unit = units[unitName.toLowerCase()]
    if (unit === undefined) {
      const why = /^(months?|mo|years?|y|yrs?)$/i.test(unitName)
        ? 'months and years have no fixed length in milliseconds; use days'
        : `unknown unit "${unitName}"; ${hint}`
      throw new UsageError(`Invalid ${what} ${show(text)}: ${why}`)
    }
    // Fractions in integer arithmetic: 1.1 * 1000 is 1100.0000000000002 in floating point.
    const scale = 10 ** fraction.length
    const fractionMs = (Number(fraction || '0') * unit) / scale
    if (!Number.isInteger(fractionMs)) {
      throw new UsageError(`Invalid ${what} ${show(text)}: must be a whole number of milliseconds`)
    }
    total += Number(integer || '0') * unit + fractionMs
  }
  if (!Number.isSafeInteger(total)) throw new UsageError(`Invalid ${what} ${show(text)}: too large`)
  return total
}

function show(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value)
}

const formatUnits: readonly (readonly [string, number])[] = [
  ['d', day],
  ['h', hour],
  ['m', minute],
  ['s', second],
  ['ms', 1],
]

/** The shortest text parseDuration reads back to the same value, e.g. 5400000 → "1h30m"; for plans and logs. */
export function formatDuration(ms: number): string {
  if (!Number.isSafeInteger(ms)) return `${ms}ms`
  if (ms === 0) return '0ms'
  let rest = Math.abs(ms)
  let text = ms < 0 ? '-' : ''
  for (const [name, size] of formatUnits) {
    if (rest >= size) {
      text += `${Math.floor(rest / size)}${name}`
      rest %= size
    }
  }
  return text
}
