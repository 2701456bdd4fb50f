import { SluiceError } from '../../errors.ts'
import { SinkFencedError } from '../../runtime/sink.ts'
import type { Positions } from '../../runtime/source.ts'
import { type CommitLog, committedPartitions, type LogEntry } from './log.ts'

/** The newest log entry that committed a partition, and the position it left there (undefined: none). */
interface Newest {
  readonly version: number
  readonly position: number | undefined
}

/**
 * The source positions of a lake table written by instances that share the source's partitions. Each log
 * entry commits some partitions (committedPartitions(): a scaled-out instance's entry names them, a single
 * process's entry commits every partition of its positions); a partition's position is the one the newest
 * entry committing it left, whichever writer wrote it. So a table a pipeline wrote as one process is taken
 * over as it is: its last entry holds every partition's position.
 *
 * Only the pipeline's own writers count: another pipeline writing the same table (even from the same topic)
 * keeps its own positions, as it has its own rows of a SQL sink's positions table.
 *
 * An instance reads a partition when it is assigned (read()) and remembers the log version it read at. It
 * commits a batch only when no entry after that version, other than its own, committed one of the batch's
 * partitions (check()), checked before each attempt at the version after the newest entry it has read: a
 * version is created only if absent, so when another writer took it first the attempt fails, and the sink
 * reads the entries it missed and checks again. The log's total order makes the check and the commit one
 * step.
 * An instance whose partition another committed meanwhile (it moved away) gets SinkFencedError.
 *
 * What was read is kept: the sink hands every newer entry to observe() once, and read() goes back in the log
 * only as far as a partition asked for was last committed, so a writer reads each entry at most once.
 */
export class PartitionPositions {
  readonly #sink: string
  /** Per partition: the newest entry committing it among the versions indexed (#from on). */
  readonly #newest = new Map<string, Newest>()
  /** The oldest version indexed; every version from it to the newest observed is. */
  #from: number
  /** Per partition: the log version this instance read it at, or its own commit of it since. */
  readonly #seen = new Map<string, number>()
  /** Whether an entry is the pipeline's (another pipeline writing the table keeps positions of its own). */
  readonly #ours: (entry: LogEntry) => boolean

  /**
   * `sink`: the sink's description, for SinkFencedError. `latest`: the log's newest version when the sink
   * opened (-1: none); the entries after it come through observe(). `ours`: the entries of this pipeline's
   * writers (its instances, and the process it ran as before it scaled out).
   */
  constructor(sink: string, latest: number, ours: (entry: LogEntry) => boolean) {
    this.#sink = sink
    this.#from = latest + 1
    this.#ours = ours
  }

  /** A log entry newer than every one observed so far. */
  observe(entry: LogEntry): void {
    if (!this.#ours(entry)) return
    for (const [partition, position] of committedPartitions(entry))
      this.#newest.set(partition, { version: entry.version, position })
  }

  /**
   * The committed positions of `partitions` (absent: none), with the log observed through version `at`.
   * This instance's next commits of them are fenced by any other writer's entry after `at`.
   */
  async read(partitions: readonly string[], log: CommitLog, at: number): Promise<Positions> {
    let missing = partitions.filter((p) => !this.#newest.has(p))
    while (missing.length > 0 && this.#from > 0) {
      const entry = await log.mustRead(this.#from - 1)
      // Older than every entry indexed: it counts only for partitions no newer entry committed.
      if (this.#ours(entry))
        for (const [partition, position] of committedPartitions(entry))
          if (!this.#newest.has(partition)) this.#newest.set(partition, { version: entry.version, position })
      this.#from--
      missing = missing.filter((p) => !this.#newest.has(p))
    }
    const positions: Record<string, number> = {}
    for (const partition of partitions) {
      this.#seen.set(partition, at)
      const position = this.#newest.get(partition)?.position
      if (position !== undefined) positions[partition] = position
    }
    return positions
  }

  /**
   * A batch committing `partitions` may take the version after the newest observed: none of them was
   * committed by another writer since this instance read it. Otherwise SinkFencedError (`expected`: the
   * positions the instance believed, for the message).
   */
  check(partitions: readonly string[], expected: Positions): void {
    for (const partition of partitions) {
      const seen = this.#seen.get(partition)
      if (seen === undefined)
        throw new SluiceError(
          'SLUICE_INTERNAL',
          `lake: partition ${partition} is committed without having been read at its assignment`,
          { domain: 'internal' },
        )
      const newest = this.#newest.get(partition)
      if (newest && newest.version > seen)
        throw new SinkFencedError(this.#sink, partition, expected[partition], newest.position)
    }
  }

  /** This instance committed `entry`: its partitions are seen at its version. */
  committed(entry: LogEntry): void {
    this.observe(entry)
    for (const partition of committedPartitions(entry).keys()) this.#seen.set(partition, entry.version)
  }
}
