/** Converts an event-time field value (epoch ms, ISO-8601 string or Date) to epoch ms, or undefined. */
export function toEpochMs(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined
  if (typeof value === 'string') {
    const ms = Date.parse(value)
    return Number.isNaN(ms) ? undefined : ms
  }
  if (value instanceof Date) {
    const ms = value.getTime()
    return Number.isNaN(ms) ? undefined : ms
  }
  if (typeof value === 'bigint') return Number(value)
  return undefined
}

/** Keys of T whose values can serve as event time. */
export type EventTimeField<T> = {
  [K in keyof T & string]: T[K] extends string | number | Date | null | undefined ? K : never
}[keyof T & string]
