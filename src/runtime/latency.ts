import type { BatchLatency } from './progress.ts'
import type { SourceRecord } from './source.ts'

/**
 * Upper bounds, in ms, of the end-to-end latency buckets in `BatchLatency.buckets`. Fixed so that batches,
 * processes and the Prometheus histogram built from them add up bucket by bucket.
 */
export const LATENCY_BUCKETS_MS: readonly number[] = Object.freeze([
  5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000,
])

/** The same bounds for the hot loop: element reads of a frozen array are several times slower in V8. */
const BOUNDS = Float64Array.from(LATENCY_BUCKETS_MS)

/** Percentiles come from an even spread of this many records: sorting a 50k batch would cost milliseconds. */
const PERCENTILE_SAMPLE = 1024

/**
 * How long each input record of a committed batch took from its source timestamp (for Kafka the producer's
 * or the broker's append time) to the commit that made its results visible. One pass over the records for
 * the buckets, sum and maximum; p50 and p99 from a strided sample. Null for a batch without records.
 */
export function batchLatency(records: readonly SourceRecord[], committedAt: number): BatchLatency | null {
  const n = records.length
  if (n === 0) return null
  const bounds = BOUNDS
  const buckets = new Array<number>(bounds.length + 1).fill(0)
  let sum = 0
  let max = 0
  for (let i = 0; i < n; i++) {
    // A clock ahead of ours (another machine's producer) must not give negative latencies.
    const ms = Math.max(0, committedAt - records[i]!.timestamp)
    sum += ms
    if (ms > max) max = ms
    let b = 0
    while (b < bounds.length && ms > bounds[b]!) b++
    buckets[b]!++
  }
  const stride = Math.max(1, Math.floor(n / PERCENTILE_SAMPLE))
  const sample: number[] = []
  for (let i = 0; i < n; i += stride) sample.push(Math.max(0, committedAt - records[i]!.timestamp))
  sample.sort((a, b) => a - b)
  const at = (q: number) => sample[Math.min(sample.length - 1, Math.floor(q * sample.length))]!
  return { count: n, sumMs: sum, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: max, buckets }
}
