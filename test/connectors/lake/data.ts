import { ClickstreamSimulator } from '../../../src/clickstream/simulator.ts'

export type Row = Record<string, unknown>

/** Clickstream events as plain objects (nested objects, null and missing fields), the same for the same seed. */
export function clickstream(count: number, seed = 7): Row[] {
  const sim = new ClickstreamSimulator({ seed, users: 500, startTime: Date.parse('2026-11-24T23:58:00Z') })
  return Array.from({ length: count }, () => ({ ...sim.next() }) as Row)
}
