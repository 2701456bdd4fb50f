import { InvalidArgumentError } from 'commander'

/** Commander argument parsers that reject bad values with a message naming what was expected. */
export function positiveInt(value: string): number {
  const n = Number(value)
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n <= 0) {
    throw new InvalidArgumentError(`expected a positive whole number, got "${value}".`)
  }
  return n
}

export function nonNegativeInt(value: string): number {
  const n = Number(value)
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) {
    throw new InvalidArgumentError(`expected a whole number >= 0, got "${value}".`)
  }
  return n
}

export function port(value: string): number {
  const n = nonNegativeInt(value)
  if (n > 65535) throw new InvalidArgumentError(`expected a port between 0 and 65535, got "${value}".`)
  return n
}

export function fraction(value: string): number {
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) {
    throw new InvalidArgumentError(`expected a fraction between 0 and 1, got "${value}".`)
  }
  return n
}

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, min: 60_000, h: 3_600_000 }

/** "500ms", "60s", "5m", "1h" or a bare number of seconds, to milliseconds. */
export function parseDuration(value: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h)?\s*$/.exec(value)
  if (!match)
    throw new InvalidArgumentError(`expected a duration such as 500ms, 60s, 5m or 1h, got "${value}".`)
  const ms = Number(match[1]) * (UNITS[match[2] ?? 's'] ?? 1_000)
  if (ms <= 0) throw new InvalidArgumentError(`expected a duration greater than zero, got "${value}".`)
  return Math.round(ms)
}

/** Like parseDuration, and "0" (or "0s") for none. */
export function parseDurationOrZero(value: string): number {
  return /^\s*0+(?:\.0*)?\s*(ms|s|m|min|h)?\s*$/.test(value) ? 0 : parseDuration(value)
}

export function isoTime(value: string): number {
  const ms = Date.parse(value)
  if (Number.isNaN(ms))
    throw new InvalidArgumentError(`expected an ISO-8601 time such as 2026-11-25T10:00:00Z, got "${value}".`)
  return ms
}

/** --lake-format: the main job's lake as Sluice's Parquet lake or an Iceberg table. */
export function lakeFormat(value: string): 'parquet' | 'iceberg' {
  if (value !== 'parquet' && value !== 'iceberg')
    throw new InvalidArgumentError(`expected "parquet" or "iceberg", got "${value}".`)
  return value
}
