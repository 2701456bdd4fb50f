import type { PartitionPositionStore } from './sink.ts'
import type { Positions, SourceReader, SourceRecord } from './source.ts'

/**
 * A scaled-out run into a sink that keeps one position per partition in its own database
 * (SinkContract.partitionPositions). The source starts a newly assigned partition at the consumer group's
 * offset, which the runtime commits only after the sink (step 5 of the commit protocol): after a crash between
 * the two, the group is behind the sink. So, once per assignment, the gate asks the sink where it has the
 * partition, drops the records before that, and remembers the position as the one each commit must find
 * (SinkCommitContext.expected): an instance whose partition another instance has committed meanwhile is
 * fenced by the sink instead of writing it twice.
 */
export class PartitionGate {
  readonly #store: PartitionPositionStore
  readonly #source: SourceReader
  /** Per partition: the assignment it was read for, and the position the sink holds (undefined: none). */
  readonly #known = new Map<string, { readonly assignment: number; position: number | undefined }>()

  constructor(store: PartitionPositionStore, source: SourceReader) {
    this.#store = store
    this.#source = source
  }

  /**
   * The records of `records` the sink has not committed, after reading where it is for new assignments. The
   * source is acknowledged for the others at once: no batch will, and until the group's offsets reach the
   * sink's positions a bounded run cannot tell that the group has read the input to its end (the group lost
   * its offsets while the sink kept its positions: a reset without the sink's database, a group deleted).
   */
  async admit(records: readonly SourceRecord[]): Promise<SourceRecord[]> {
    await this.positions(records.map((r) => r.partition))
    const admitted: SourceRecord[] = []
    const committed: SourceRecord[] = []
    for (const r of records) {
      const known = this.#known.get(r.partition)
      // A record of a partition no longer assigned is not the sink's concern: the source drops those.
      if (known?.position === undefined || r.offset >= known.position) admitted.push(r)
      else committed.push(r)
    }
    if (committed.length > 0) await this.#source.acknowledge?.(after(committed), committed)
    return admitted
  }

  /**
   * Where the sink has each of `partitions` (absent: nothing committed), read once per assignment: a keyed
   * task starts from there, and its state must be read after this (the sink fences this instance's commits
   * of the partition on what it read here, see PartitionPositionStore.read).
   */
  async positions(partitions: Iterable<string>): Promise<Positions> {
    for (const partition of this.#known.keys())
      if (this.#source.assignment?.(partition) === undefined) this.#known.delete(partition)
    const wanted = new Set(partitions)
    const unknown = new Set<string>()
    for (const partition of wanted) {
      const assignment = this.#source.assignment?.(partition)
      if (assignment && this.#known.get(partition)?.assignment !== assignment.id) unknown.add(partition)
    }
    if (unknown.size > 0) {
      const stored = await this.#store.read([...unknown])
      for (const partition of unknown) {
        const assignment = this.#source.assignment?.(partition)
        if (assignment) this.#known.set(partition, { assignment: assignment.id, position: stored[partition] })
      }
    }
    const positions: Record<string, number> = {}
    for (const partition of wanted) {
      const position = this.#known.get(partition)?.position
      if (position !== undefined) positions[partition] = position
    }
    return positions
  }

  /**
   * The positions the sink must hold for the batch of `records` to commit: for each of their partitions and
   * of `held` (partitions whose tasks ran without records), the position here, or none when it is absent.
   */
  expected(records: readonly SourceRecord[], held: readonly string[] = []): Positions {
    const expected: Record<string, number> = {}
    for (const partition of [...records.map((r) => r.partition), ...held]) {
      const position = this.#known.get(partition)?.position
      if (position !== undefined) expected[partition] = position
    }
    return expected
  }

  /** The sink committed a batch: its partitions now stand at `next`. */
  committed(next: Positions, records: readonly SourceRecord[]): void {
    for (const r of records) {
      const known = this.#known.get(r.partition)
      if (known) known.position = next[r.partition]
    }
  }
}

/** The position after the last of `records` in each of their partitions. */
function after(records: readonly SourceRecord[]): Positions {
  const next: Record<string, number> = {}
  for (const r of records) next[r.partition] = Math.max(next[r.partition] ?? 0, r.offset + 1)
  return next
}
