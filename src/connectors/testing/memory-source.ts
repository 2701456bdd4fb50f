import type { PollOptions, Positions, SourceReader, SourceRecord, SourceSpec } from '../../runtime/source.ts'

export interface MemorySourceRecord {
  readonly value: unknown
  readonly key?: string
  readonly partition?: string
  readonly timestamp?: number
}

/**
 * A bounded source over values held in memory, with real positions (index per partition), so it replays
 * after a restart like any log. For tests and examples; the test driver replaces the source entirely.
 */
export function memorySource<T = unknown>(
  name: string,
  input: readonly (MemorySourceRecord | T)[] = [],
): SourceSpec<T> {
  const records: SourceRecord[] = []
  const counters = new Map<string, number>()
  for (const item of input) {
    const r = isRecord(item) ? item : { value: item }
    const partition = r.partition ?? 'memory'
    const offset = counters.get(partition) ?? 0
    counters.set(partition, offset + 1)
    records.push({ partition, offset, key: r.key, value: r.value as object, timestamp: r.timestamp ?? 0 })
  }
  const end: Record<string, number> = Object.fromEntries(counters)
  return {
    type: 'memory',
    options: { name, records: records.length },
    identity: { name },
    create: (): SourceReader => {
      let next: Record<string, number> = {}
      return {
        description: `memory ${name}`,
        bounded: true,
        async open(resumeFrom: Positions | undefined) {
          next = { ...(resumeFrom ?? {}) }
        },
        async poll(options: PollOptions) {
          const out: SourceRecord[] = []
          for (const r of records) {
            if (out.length >= options.maxRecords) break
            const from = next[r.partition] ?? 0
            const limit = options.until?.[r.partition] ?? Number.POSITIVE_INFINITY
            if (r.offset >= from && r.offset < limit) {
              out.push(r)
              next[r.partition] = r.offset + 1
            }
          }
          return out
        },
        async endPositions() {
          return end
        },
        async close() {},
      }
    },
  }
}

function isRecord(item: unknown): item is MemorySourceRecord {
  return (
    item !== null &&
    typeof item === 'object' &&
    'value' in item &&
    Object.keys(item).every((k) => ['value', 'key', 'partition', 'timestamp'].includes(k))
  )
}
