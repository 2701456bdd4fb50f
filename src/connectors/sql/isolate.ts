/** How one try at writing a chunk went: written (undefined), or refused with the database's error. */
export type ChunkOutcome<E> =
  | undefined
  | {
      readonly error: E
      /** The 1-based item of the chunk the database named as the culprit (PostgreSQL's COPY line), if any. */
      readonly at?: number | undefined
    }

/**
 * The bad-row strategy the SQL sinks and the MongoDB sink share. A multi-row write the table refuses for one
 * row's data is undone as a whole (a savepoint, InnoDB's statement atomicity, a throwaway transaction), or
 * can be sent again as it is (MongoDB's writes by `_id`): `attempt` does that and says how it went; then the
 * write is split until each refused row stands alone: at the row the database names when it
 * does (the rows before it, it alone, the rest), in halves otherwise. The rows are tried, and the refused
 * ones reported, in their order; what `attempt` accepted stays written. `refused` may throw to stop (the
 * sinks' `onError: 'fail'`). With `firstRefused` the whole set is known to be refused already (the first
 * try happened elsewhere) and is split straight away.
 */
export async function isolateRefused<T, E>(
  items: readonly T[],
  attempt: (chunk: readonly T[]) => Promise<ChunkOutcome<E>>,
  refused: (item: T, error: E) => void,
  firstRefused?: E,
): Promise<void> {
  // A stack of chunks still to try, the next one last: depth first, in order.
  const work: { chunk: readonly T[]; known?: ChunkOutcome<E> }[] = [
    firstRefused === undefined ? { chunk: items } : { chunk: items, known: { error: firstRefused } },
  ]
  while (work.length > 0) {
    const { chunk, known } = work.pop()!
    if (chunk.length === 0) continue
    const outcome = known ?? (await attempt(chunk))
    if (outcome === undefined) continue
    if (chunk.length === 1) {
      refused(chunk[0]!, outcome.error)
      continue
    }
    const at = outcome.at
    if (at !== undefined && at >= 1 && at <= chunk.length)
      work.push(
        { chunk: chunk.slice(at) },
        { chunk: chunk.slice(at - 1, at) },
        { chunk: chunk.slice(0, at - 1) },
      )
    else {
      const mid = chunk.length >>> 1
      work.push({ chunk: chunk.slice(mid) }, { chunk: chunk.slice(0, mid) })
    }
  }
}
