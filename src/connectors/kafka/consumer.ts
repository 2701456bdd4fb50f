import {
  Consumer,
  FetchIsolationLevels,
  type GroupPartitionsAssigner,
  type Message,
  type MessagesStream,
} from '@platformatic/kafka'
import { describeError, KafkaError } from '../../errors.ts'
import { sleep } from '../../runtime/wait.ts'
import { BufferedReads } from './buffered-reads.ts'
import { baseClientOptions, type KafkaConnection } from './connection.ts'
import { CooperativeOwnership, type GroupMember, type PartitionAssignment } from './cooperative-ownership.ts'
import { commitProgress, type ProgressOffset } from './progress-commit.ts'
import { registerRawConsumer } from './raw.ts'
import { filterAbortedTransactions } from './read-committed.ts'
import { type ConsumedRecord, partitionKey } from './records.ts'
import { requireStableOffsets } from './stable-offsets.ts'
import { type StartPosition, streamPositioning } from './start-position.ts'

export type { StartPosition } from './start-position.ts'

export interface KafkaConsumerOptions extends KafkaConnection {
  readonly groupId: string
  readonly topics: readonly string[]
  readonly start?: StartPosition
  /** Only see committed transactional records (default true). */
  readonly readCommitted?: boolean
  /**
   * Rebalance protocol. 'classic' is the default: with KIP-848 'consumer' the client (2.12.1) sends a
   * generation the broker rejects in TxnOffsetCommit ("Specified group generation id is not valid"), which
   * would make every exactly-once commit fail (see test/connectors/kafka-client.test.ts).
   */
  readonly groupProtocol?: 'consumer' | 'classic'
  /** Records buffered by the client before fetching pauses: the memory bound of a consumer. */
  readonly highWaterMark?: number
  readonly maxBytes?: number
  readonly maxBytesPerPartition?: number
  readonly maxWaitTime?: number
  readonly sessionTimeout?: number
  /**
   * Static group membership (KIP-345): a member that restarts with the same id takes its partitions back at
   * once instead of waiting for the session to time out and the group to rebalance.
   */
  readonly groupInstanceId?: string
  /**
   * Incremental cooperative rebalancing (cooperative-sticky): a member joining or leaving moves only the
   * partitions that must move, the others keep reading. A partition is revoked only once the batch that read
   * it is finished (committed or abandoned: `finishedBatch()`), so no other member reads it while its
   * records are in flight, and a member's in-flight batch commits under the generation it is in. For
   * pipelines whose instances share the group's partitions (scale-out); default false (eager round-robin).
   */
  readonly cooperative?: boolean
  /**
   * The userData of this member's group subscription (classic protocol), which DescribeGroups shows the other
   * members and admins: a Sluice pipeline puts its plan there (group-plan.ts).
   */
  readonly memberData?: Buffer
  /**
   * Read only these partitions of each topic ("topic" → partition numbers), in a group of its own that
   * assigns them to itself (a task restoring its state from changelog partitions).
   */
  readonly partitions?: ReadonlyMap<string, readonly number[]>
}

export type { GroupMember, PartitionAssignment } from './cooperative-ownership.ts'

export interface BatchOptions {
  readonly maxRecords: number
  /** How long to wait for more records once a batch has its first one. */
  readonly lingerMs: number
  /** Yield an empty batch after this long without records (lets callers advance time); never when omitted. */
  readonly idleMs?: number
  /**
   * After the linger, keep reading until every owned partition listed here ("topic:partition" → offset) has
   * been fetched and read up to its offset, for at most `upToWaitMs` (default 1 s) from the call.
   */
  readonly upTo?: ReadonlyMap<string, bigint>
  readonly upToWaitMs?: number
  readonly signal?: AbortSignal
}

/**
 * A consumer-group member reading raw records. It never commits on its own: offsets are committed by the
 * caller once the records are processed (the client's default commits on fetch, which loses data on a crash),
 * and it starts from the group's committed offsets (the client's default ignores them).
 */
export class KafkaConsumer {
  readonly #consumer: Consumer
  readonly #options: KafkaConsumerOptions
  #stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined
  readonly #reads = new BufferedReads()
  #failure: Error | undefined
  #ended = false
  readonly #ownership: CooperativeOwnership

  constructor(options: KafkaConsumerOptions) {
    this.#options = options
    const protocol = options.groupProtocol ?? 'classic'
    this.#consumer = new Consumer({
      ...baseClientOptions(options, 'consumer'),
      groupId: options.groupId,
      autocommit: false,
      isolationLevel:
        (options.readCommitted ?? true)
          ? FetchIsolationLevels.READ_COMMITTED
          : FetchIsolationLevels.READ_UNCOMMITTED,
      highWaterMark: options.highWaterMark ?? 4096,
      // The client parses and buffers a whole fetch response before it looks at highWaterMark again, so the
      // fetch size, not highWaterMark, bounds the read-ahead: 128 KiB per partition of small records is tens
      // of thousands of decoded messages (~0.7 KB of heap each). 512 KiB slices peaked the bare consumer at
      // ~480 MB RSS reading the bench clickstream; 128 KiB at ~380 MB, at the same rate (bench/README.md).
      maxBytes: options.maxBytes ?? 4 * 1024 * 1024,
      // Small per-partition slices also make every fetch carry several partitions, so a batch mixes
      // partitions roughly in proportion instead of draining one partition's backlog first (which would race
      // one partition's event time ahead of the others').
      maxBytesPerPartition: options.maxBytesPerPartition ?? 128 * 1024,
      maxWaitTime: options.maxWaitTime ?? 100,
      retries: 10,
      retryDelay: 500,
      ...(options.groupInstanceId ? { groupInstanceId: options.groupInstanceId } : {}),
      ...(options.cooperative && protocol === 'classic'
        ? // Version 3 carries the generation in its own field, so userData stays free for memberData.
          { protocols: [{ name: COOPERATIVE_STICKY_ASSIGNOR, version: 3 }] }
        : {}),
      ...(options.memberData && protocol === 'classic'
        ? { protocolsMetadata: () => options.memberData as Buffer }
        : {}),
      ...(options.partitions ? { partitionAssigner: ownPartitions(options.partitions) } : {}),
      ...(protocol === 'consumer'
        ? { groupProtocol: 'consumer' as const }
        : {
            sessionTimeout: options.sessionTimeout ?? 10_000,
            // Members learn of a rebalance from a heartbeat's answer, twice per cooperative join: at 1 s a join
            // stopped the others ~1.0 s, at 250 ms ~0.4 s (bench/micro/rebalance-pause.ts).
            heartbeatInterval: 250,
            rebalanceTimeout: 20_000,
          }),
    })
    // The client emits 'error' when a rejoin fails (a broker gone, the client closing meanwhile): without a
    // listener that would end the process. It fails the next poll instead, which restarts the run.
    this.#consumer.on('error', (error: Error) => {
      this.#failure ??= error
    })
    // The client's own read_committed filter lets aborted records through and hides committed ones.
    filterAbortedTransactions(this.#consumer)
    // A partition taken over from an instance whose transaction is still committing its offsets waits for it.
    requireStableOffsets(this.#consumer)
    registerRawConsumer(this, this.#consumer)
    this.#ownership = new CooperativeOwnership(this.#consumer, options.groupId)
  }

  get groupId(): string {
    return this.#options.groupId
  }

  /** This member's id in the group (null before it joined). */
  get memberId(): string | null {
    return this.#consumer.memberId
  }

  /** Joins the group and starts fetching. */
  async start(): Promise<void> {
    if (this.#stream) return
    const start = this.#options.start ?? { from: 'committed', fallback: 'earliest' }
    const topics = [...this.#options.topics]
    try {
      const positioning = await streamPositioning(start, this.#options, topics)
      this.#stream = await this.#consumer.consume({ topics, ...positioning })
      this.#reads.track(this.#stream)
      // Records read before, below where the stream positions a newly assigned partition, are dropped.
      if (this.#options.cooperative)
        this.#ownership.holdRevocations(this.#stream, (key, at) => this.#reads.positioned(key, at))
    } catch (error) {
      if (error instanceof KafkaError) throw error
      throw new KafkaError(`Could not subscribe to ${topics.join(', ')}: ${describeError(error)}`, {
        cause: error,
      })
    }
    this.#stream.on('error', (error) => {
      this.#failure = error
    })
    this.#stream.on('end', () => {
      this.#ended = true
    })
    // Keeps the stream in paused mode for good: without a 'readable' listener Node sets readableFlowing back
    // to null, the client then skips fetching (#fetch returns early), and a full buffer never refills.
    this.#stream.on('readable', () => {})
  }

  /** The group has given this member its partitions (none, when there are more members than partitions). */
  get assigned(): boolean {
    return Array.isArray(this.#consumer.assignments)
  }

  /**
   * Where this member started reading a partition it owns (the group's committed offset when the partition
   * was assigned) and which assignment that was: undefined until the stream positioned it, and for
   * non-cooperative members.
   */
  assignment(key: string): PartitionAssignment | undefined {
    return this.#ownership.assignment(key)
  }

  /** Partitions this member owns now, as "topic:partition" keys. */
  ownedPartitions(): ReadonlySet<string> {
    return this.#ownership.owned()
  }

  /**
   * Successive poll() results until the signal aborts or the stream ends; empty batches only with idleMs.
   */
  async *batches(options: BatchOptions): AsyncGenerator<ConsumedRecord[]> {
    while (!options.signal?.aborted) {
      const batch = await this.poll(options)
      if (batch.length > 0 || options.idleMs !== undefined) yield batch
      if (this.#ended) return
    }
  }

  /**
   * One batch: up to maxRecords, closed lingerMs after its first record, or empty after idleMs without any.
   * Reading stops while the caller processes a batch, so the client's buffer (highWaterMark) bounds memory.
   * Records of partitions revoked since they were fetched are dropped: another member now owns them.
   */
  async poll(options: BatchOptions): Promise<ConsumedRecord[]> {
    await this.start()
    const stream = this.#stream!
    const batch: ConsumedRecord[] = []
    let deadline = options.idleMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + options.idleMs
    let lingering = false
    const upTo = options.upTo
    const upToDeadline = Date.now() + (options.upToWaitMs ?? 1000)
    const cooperative = this.#options.cooperative === true
    for (;;) {
      if (this.#failure)
        throw new KafkaError(`Consuming failed: ${describeError(this.#failure)}`, { cause: this.#failure })
      const owned = this.ownedPartitions()
      while (batch.length < options.maxRecords && !this.#ownership.revoking) {
        const message: Message<Buffer, Buffer, Buffer, Buffer> | null = stream.read()
        if (message === null) break
        const key = partitionKey(message.topic, message.partition)
        if (!this.#reads.take(key, message.offset, cooperative)) continue
        // Records of a partition owned but not yet positioned in this ownership were fetched before (from
        // where an earlier ownership had got to): the stream reads them again from the committed offset.
        if (owned.has(key) && (!cooperative || this.#ownership.isPositioned(key))) batch.push(message)
      }
      if (batch.length > 0) this.#ownership.handedOut()
      if (batch.length >= options.maxRecords || this.#ended || options.signal?.aborted) return batch
      if (this.#ownership.revoking) {
        // Revoking waits for the open batch, which is this one when it has records: hand it out.
        if (batch.length > 0) return batch
        await sleep(10, options.signal)
        continue
      }
      if (batch.length > 0 && !lingering) {
        lingering = true
        deadline = Date.now() + options.lingerMs
      }
      let waitMs = deadline - Date.now()
      if (waitMs <= 0) {
        if (!upTo || batch.length === 0 || this.#readUpTo(upTo, owned)) return batch
        waitMs = upToDeadline - Date.now()
        if (waitMs <= 0) return batch
      }
      await readableOrTimeout(stream, waitMs, options.signal)
    }
  }

  /** Everything buffered was read and each owned partition of `end` was fetched up to its offset. */
  #readUpTo(end: ReadonlyMap<string, bigint>, owned: ReadonlySet<string>): boolean {
    const stream = this.#stream
    if (!stream || stream.readableLength > 0) return false
    const next = stream.offsetsToFetch
    for (const [key, offset] of end) {
      if (owned.has(key) && offset > 0n && (next.get(key) ?? 0n) < offset) return false
    }
    return true
  }

  /** The log end of every subscribed partition (the last stable offset when reading committed records). */
  async logEnd(): Promise<Map<string, bigint>> {
    try {
      const offsets = await this.#consumer.listOffsets({ topics: [...this.#options.topics] })
      const end = new Map<string, bigint>()
      for (const [topic, partitions] of offsets)
        for (const [partition, offset] of partitions.entries())
          end.set(partitionKey(topic, partition), offset)
      return end
    } catch (error) {
      throw new KafkaError(
        `Listing the log end of ${this.#options.topics.join(', ')} failed: ${describeError(error)}`,
        {
          cause: error,
        },
      )
    }
  }

  /**
   * True when nothing is buffered and the client's next fetch offset has reached `end` on every partition:
   * the way to tell "caught up" when a partition ends in a transaction marker, which no record represents.
   */
  caughtUp(end: ReadonlyMap<string, bigint>): boolean {
    const stream = this.#stream
    if (!stream || stream.readableLength > 0) return false
    const next = stream.offsetsToFetch
    for (const [key, offset] of end) {
      if (offset > 0n && (next.get(key) ?? 0n) < offset) return false
    }
    return true
  }

  /**
   * Of `partitions`, those with records not yet handed out by poll(): fetched records still in the buffer,
   * or a fetch position below `end` (the log end), whatever lies there. Partitions this member does not own
   * have nothing to deliver here.
   */
  unread(partitions: Iterable<string>, end: ReadonlyMap<string, bigint>): Set<string> {
    const unread = new Set<string>()
    const next = this.#stream?.offsetsToFetch
    const owned = this.ownedPartitions()
    for (const key of partitions) {
      if (!owned.has(key)) continue
      if (this.#reads.waiting(key) || (next?.get(key) ?? 0n) < (end.get(key) ?? 0n)) unread.add(key)
    }
    return unread
  }

  /**
   * A stand-in for the last record before where the current assignment of `key` started: committing "the
   * position after it" in a transaction commits that start position again under this member's generation
   * (KafkaTransaction.commitOffsets), for a batch that changed the partition's state without reading it.
   */
  assignmentStartRecord(
    key: string,
  ): (ConsumedRecord & { readonly metadata: { readonly consumer: GroupMember } }) | undefined {
    const assigned = this.assignment(key)
    if (!assigned?.member) return undefined
    const at = key.lastIndexOf(':')
    return {
      topic: key.slice(0, at),
      partition: Number(key.slice(at + 1)),
      offset: assigned.start - 1n,
      key: null,
      value: null,
      timestamp: 0n,
      headers: new Map(),
      metadata: { consumer: assigned.member },
    }
  }

  /**
   * Holds the current assignment for a batch without records, as a poll that handed out records does, until
   * finishedBatch(). False when a revocation is already under way.
   */
  holdBatch(): boolean {
    return this.#ownership.holdBatch()
  }

  /** The records poll() handed out are committed or abandoned: a revocation waiting for them may go on. */
  finishedBatch(): void {
    this.#ownership.finishedBatch()
  }

  /**
   * The group identity to commit `partitions`' offsets under in a transaction (KIP-447 fencing), when it is
   * not the one their records were fetched under: a cooperative member that stayed in the group and still
   * owns them commits under its current generation (a rebalance that moved none of them bumped it, and a
   * revocation waits for this commit). Undefined: use the records' own (a member that lost its membership, or
   * a partition, since they were fetched is fenced by it, as it must be).
   */
  commitGeneration(
    fetchedBy: { readonly memberId: string; readonly generationId: number },
    partitions: Iterable<string>,
  ):
    | { readonly generationId: number; readonly memberId: string; readonly coordinatorId: number }
    | undefined {
    return this.#options.cooperative ? this.#ownership.commitGeneration(fetchedBy, partitions) : undefined
  }

  /**
   * Commits, for each partition, the position after the last of `records` (outside any transaction), as
   * progress for a caller that keeps its own positions (or reads at-least-once): under this member's current
   * generation, only for partitions it has owned without a break since their records were fetched. False when
   * nothing could be committed now (the group is rebalancing, or the member lost the partitions): the next
   * commit carries the positions on. It never waits for a rebalance, which may be waiting for the caller.
   */
  async commit(records: Iterable<ConsumedRecord>): Promise<boolean> {
    const memberId = this.#consumer.memberId
    const coordinatorId = this.#consumer.coordinatorId
    const next = new Map<string, ProgressOffset & { readonly fetchedIn: number }>()
    for (const r of records) {
      const key = partitionKey(r.topic, r.partition)
      const seen = next.get(key)
      if (!seen || seen.offset <= r.offset) {
        const fetched = r.metadata?.consumer as { memberId?: unknown; generationId?: unknown } | undefined
        next.set(key, {
          topic: r.topic,
          partition: r.partition,
          offset: r.offset + 1n,
          leaderEpoch: leaderEpochOf(r),
          fetchedIn:
            fetched?.memberId === memberId && typeof fetched?.generationId === 'number'
              ? fetched.generationId
              : Number.NEGATIVE_INFINITY,
        })
      }
    }
    if (next.size === 0) return true
    if (!memberId || coordinatorId === null) return false
    const offsets = [...next].flatMap(([key, o]) => (this.#ownership.ownedSince(key, o.fetchedIn) ? [o] : []))
    if (offsets.length === 0) return false
    const identity = {
      groupId: this.groupId,
      generationId: this.#consumer.generationId,
      memberId,
      coordinatorId,
      groupInstanceId: this.#options.groupInstanceId ?? null,
    }
    try {
      return (await commitProgress(this.#consumer, identity, offsets)) && offsets.length === next.size
    } catch (error) {
      throw new KafkaError(`Committing offsets for group ${this.groupId} failed: ${describeError(error)}`, {
        cause: error,
      })
    }
  }

  /** Leaves the group so its partitions move to the other members at once. */
  async close(): Promise<void> {
    this.finishedBatch()
    await this.#stream?.close().catch(() => {})
    await this.#consumer.close(true).catch(() => {})
  }
}

/** The client's name for its cooperative-sticky assignor (not exported by name in 2.12.1). */
const COOPERATIVE_STICKY_ASSIGNOR = 'cooperative-sticky'

function leaderEpochOf(record: ConsumedRecord): number {
  return 'leaderEpoch' in record && typeof record.leaderEpoch === 'number' ? record.leaderEpoch : -1
}

function readableOrTimeout(
  stream: MessagesStream<Buffer, Buffer, Buffer, Buffer>,
  ms: number,
  signal?: AbortSignal,
) {
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer)
      stream.off('readable', done)
      stream.off('end', done)
      stream.off('error', done)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    stream.once('readable', done)
    stream.once('end', done)
    stream.once('error', done)
    signal?.addEventListener('abort', done, { once: true })
  })
}

/** An assignor that gives the group's only member the listed partitions (KafkaConsumerOptions.partitions). */
function ownPartitions(wanted: ReadonlyMap<string, readonly number[]>): GroupPartitionsAssigner {
  return (current, _members, topics) => [
    {
      memberId: current,
      assignments: new Map(
        [...topics].map((topic) => [topic, { topic, partitions: [...(wanted.get(topic) ?? [])] }]),
      ),
    },
  ]
}
