import type { Consumer, GroupAssignment, MessagesStream } from '@platformatic/kafka'
import { PartitionOwnership } from './ownership.ts'
import { partitionKey } from './records.ts'

/** One assignment of a partition to this member. */
export interface PartitionAssignment {
  /** The offset the stream started the partition at. */
  readonly start: bigint
  /** Counts this member's assignments: a partition revoked and assigned again gets a new id. */
  readonly id: number
  /** The group membership it was assigned under (what a transactional offset commit is fenced on). */
  readonly member: GroupMember | undefined
}

/** A member of a consumer group in one generation, as a record's metadata carries it. */
export interface GroupMember {
  readonly groupId: string
  readonly generationId: number
  readonly memberId: string
  readonly coordinatorId: number
}

type RawStream = MessagesStream<Buffer, Buffer, Buffer, Buffer>

/**
 * What a group member owns and for how long, kept apart from reading records (KafkaConsumer): the
 * partitions assigned now, since which generation each was owned without a break, and, for a cooperative
 * member, where the stream positioned each new assignment and the hold that makes a revocation wait for the
 * batch poll() handed out (Java's onPartitionsRevoked), so no other member reads a partition whose records
 * are in flight.
 */
export class CooperativeOwnership {
  readonly #consumer: Consumer
  readonly #groupId: string
  readonly #ownership: PartitionOwnership
  #ownedFrom: GroupAssignment[] | null | undefined
  #owned = new Set<string>()
  /** The batch poll() handed out and the caller has not finished: a revocation waits for it. */
  #openBatch: { readonly done: Promise<void>; readonly finish: () => void } | undefined
  /** While a cooperative revocation is under way: the assignment it replaces (poll() hands out nothing). */
  #revokingFrom: GroupAssignment[] | null | undefined
  #revoking = false
  /**
   * The partitions the stream has positioned (its 'offsets' event) in their current ownership: partition →
   * ownership serial. A partition owned again after a break (revoked, or the membership lost) is not
   * positioned until the stream positions it anew at the group's committed offset.
   */
  readonly #positioned = new Map<string, number>()
  /** Where the stream started each partition of the current assignment (cooperative members). */
  readonly #assignedAt = new Map<string, PartitionAssignment>()
  #assignments = 0

  constructor(consumer: Consumer, groupId: string) {
    this.#consumer = consumer
    this.#groupId = groupId
    this.#ownership = new PartitionOwnership(consumer)
  }

  /** Partitions this member owns now, as "topic:partition" keys. */
  owned(): ReadonlySet<string> {
    const current = this.#consumer.assignments
    if (current !== this.#ownedFrom) {
      this.#owned = new Set(
        (current ?? []).flatMap(({ topic, partitions }) => partitions.map((p) => partitionKey(topic, p))),
      )
      this.#ownedFrom = current
    }
    return this.#owned
  }

  /** Where the stream started `key` in its current assignment: undefined until positioned, and if not owned. */
  assignment(key: string): PartitionAssignment | undefined {
    return this.owned().has(key) ? this.#assignedAt.get(key) : undefined
  }

  /** Whether the stream has positioned `key` in this member's current ownership of it. */
  isPositioned(key: string): boolean {
    const ownership = this.#ownership.of(key)
    return ownership !== undefined && this.#positioned.get(key) === ownership.serial
  }

  /** Whether this member has owned `key` without a break since group generation `generation` (or before). */
  ownedSince(key: string, generation: number): boolean {
    const ownership = this.#ownership.of(key)
    return ownership !== undefined && ownership.generation <= generation
  }

  /** A revocation is under way: it waits for the open batch, and poll() hands out nothing new meanwhile. */
  get revoking(): boolean {
    // The client replaces its assignments when the revocation round is over.
    if (this.#revoking && this.#consumer.assignments !== this.#revokingFrom) this.#revoking = false
    return this.#revoking
  }

  /** poll() handed out records: they hold the current assignment until finishedBatch(). */
  handedOut(): void {
    this.#openBatch ??= openBatch()
  }

  /** Holds the current assignment for a batch without records; false when a revocation is under way. */
  holdBatch(): boolean {
    if (this.#openBatch) return true
    if (this.#revoking) return false
    this.#openBatch = openBatch()
    return true
  }

  /** The open batch is committed or abandoned: a revocation waiting for it may go on. */
  finishedBatch(): void {
    const open = this.#openBatch
    this.#openBatch = undefined
    open?.finish()
  }

  /**
   * The group identity to commit `partitions`' offsets under, when a member that stayed in the group and
   * still owns them commits records fetched under an older generation (KafkaConsumer.commitGeneration).
   */
  commitGeneration(
    fetchedBy: { readonly memberId: string; readonly generationId: number },
    partitions: Iterable<string>,
  ):
    | { readonly generationId: number; readonly memberId: string; readonly coordinatorId: number }
    | undefined {
    const memberId = this.#consumer.memberId
    if (!memberId || memberId !== fetchedBy.memberId) return undefined
    const coordinatorId = this.#consumer.coordinatorId
    if (coordinatorId === null) return undefined
    // Owned since the records were fetched, without a break: else another member may have had it meanwhile.
    for (const p of partitions) if (!this.ownedSince(p, fetchedBy.generationId)) return undefined
    return { generationId: this.#consumer.generationId, memberId, coordinatorId }
  }

  /**
   * Makes cooperative revocations wait for the open batch, and positions each new assignment. The client
   * commits a stream's pending offsets before it gives partitions up, through the stream's autocommit with a
   * callback, and goes on when that calls back: the one place a rebalance waits for the application. Until
   * the new assignment is in force, `revoking` holds. `positioned` hears where the stream starts a newly
   * assigned partition: records read before, below that offset, are not to be handed out.
   */
  holdRevocations(stream: RawStream, positioned: (key: string, at: bigint) => void): void {
    const target = stream as unknown as Record<symbol, (callback?: (error: Error | null) => void) => void>
    const autocommit = clientSymbol(stream, AUTOCOMMIT)
    const flush = target[autocommit]!.bind(stream)
    target[autocommit] = (callback) => {
      if (!callback) return flush()
      this.#revoking = true
      this.#revokingFrom = this.#consumer.assignments
      const open = this.#openBatch?.done ?? Promise.resolve()
      void open.then(() => flush(callback))
    }
    // A partition newly assigned starts where the group committed it, else at the fallback (earliest or
    // latest). The stream keeps the fetch position of a partition it once owned and, when the group has no
    // commit for it, would go on from there: records another member read meanwhile (without committing)
    // would be skipped. So positions of partitions not owned continuously are dropped at each join, before
    // the stream positions the new assignment ('consumer:group:join' starts that asynchronously).
    this.#consumer.on('consumer:group:join', () => {
      const owned = this.owned()
      for (const key of [...stream.offsetsToFetch.keys()])
        if (!owned.has(key) || !this.isPositioned(key)) stream.offsetsToFetch.delete(key)
    })
    stream.on('offsets', () => {
      const owned = this.owned()
      for (const key of owned) {
        const at = stream.offsetsToFetch.get(key)
        const ownership = this.#ownership.of(key)
        if (!this.isPositioned(key) && at !== undefined && ownership) {
          positioned(key, at)
          this.#assignedAt.set(key, { start: at, id: ++this.#assignments, member: this.#identity() })
          this.#positioned.set(key, ownership.serial)
        }
      }
      for (const key of this.#assignedAt.keys()) if (!owned.has(key)) this.#assignedAt.delete(key)
      for (const key of this.#positioned.keys()) if (!owned.has(key)) this.#positioned.delete(key)
    })
  }

  #identity(): GroupMember | undefined {
    const memberId = this.#consumer.memberId
    const coordinatorId = this.#consumer.coordinatorId
    if (!memberId || coordinatorId === null) return undefined
    return { groupId: this.#groupId, generationId: this.#consumer.generationId, memberId, coordinatorId }
  }
}

function openBatch(): { readonly done: Promise<void>; readonly finish: () => void } {
  const { promise, resolve } = Promise.withResolvers<void>()
  return { done: promise, finish: resolve }
}

/** The description of the client's (unexported) symbol for a stream's autocommit flush (2.12.1). */
const AUTOCOMMIT = 'plt.kafka.messagesStream.autocommit'

/** A method symbol of the client's stream class, by description; a clear error if the client changed. */
function clientSymbol(stream: object, description: string): symbol {
  const found = Object.getOwnPropertySymbols(Object.getPrototypeOf(stream)).find(
    (s) => s.description === description,
  )
  if (!found)
    throw new Error(
      `internal: @platformatic/kafka's MessagesStream has no [${description}] method (a client upgrade?): cooperative revocation cannot wait for in-flight batches`,
    )
  return found
}
