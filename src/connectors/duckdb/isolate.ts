import { isolateRefused } from '../sql/index.ts'
import type { Prepared } from './prepare.ts'

/** Tries rows in a transaction that is always rolled back: DuckDB's message when they cannot be written. */
export type Probe = (indexes: readonly number[]) => Promise<string | undefined>

/**
 * Finds the rows DuckDB refuses, with throwaway transactions, once the batch as a whole was refused: first
 * the shared strategy (src/connectors/sql/isolate.ts: halves of a failing set tried on their own down to
 * single rows: NOT NULL, CHECK, a key already in the table); then rows that only fail together (the same key
 * twice in an append) are found as the shortest failing prefix. Moves them from `good` to `rejected`.
 */
export async function isolateRejected<T>(prepared: Prepared<T>, probe: Probe): Promise<void> {
  const bad = new Map<number, string>()
  const all = prepared.good
  // The whole set failed already; a lone row is probed again for its own message.
  await isolateRefused<number, string>(
    all,
    async (set) => {
      const error = await probe(set)
      return error === undefined ? undefined : { error }
    },
    (index, error) => {
      bad.set(index, error)
    },
    all.length > 1 ? 'refused' : undefined,
  )
  let good = all.filter((i) => !bad.has(i))
  for (;;) {
    const error = await probe(good)
    if (error === undefined) break
    let lo = 1
    let hi = good.length
    let message = error
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      const e = await probe(good.slice(0, mid))
      if (e === undefined) lo = mid + 1
      else {
        hi = mid
        message = e
      }
    }
    bad.set(good[hi - 1]!, message)
    good = good.filter((_, i) => i !== hi - 1)
  }
  prepared.good = good
  for (const [index, reason] of [...bad].sort((a, b) => a[0] - b[0]))
    prepared.rejected.push({ row: prepared.batch.rows[index], reason })
}
