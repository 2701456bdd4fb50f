import { KafkaError, UsageError } from '../../errors.ts'
import type {
  PartitionAssignment,
  PollOptions,
  Positions,
  SourceContext,
  SourceOpenOptions,
  SourceReader,
  SourceRecord,
  SourceSpec,
} from '../../runtime/source.ts'
import { KafkaAdmin } from './admin.ts'
import type { KafkaConnection } from './connection.ts'
import { KafkaConsumer, type StartPosition } from './consumer.ts'
import { type KafkaAccess, needing } from './denied.ts'
import { checkGroupPlan, encodeMemberPlan, type MemberPlan, memberPlan } from './group-plan.ts'
import { kafkaGroupView } from './group-view.ts'
import { type ConsumedRecord, partitionKey } from './records.ts'
import type { KafkaTransaction } from './transaction.ts'

export interface KafkaSourceOptions extends KafkaConnection {
  readonly topics: readonly string[] | string
  /** Consumer group; default "sluice-<pipeline id>". Its committed offsets follow the pipeline's batches. */
  readonly groupId?: string
  /** Where a new pipeline starts (a checkpoint, then the group's commits, take precedence). Default 'earliest'. */
  readonly startingOffsets?: 'earliest' | 'latest' | number
  /** 'latest': stop at the log end seen at start (a bounded, batch-style run). */
  readonly endingOffsets?: 'latest'
  /**
   * Names this instance in the group (static membership): a restarted instance gets its partitions back
   * without a rebalance. Give each instance of a scaled-out pipeline its own.
   */
  readonly instanceId?: string
  /** Records the client may buffer ahead of processing (memory bound). */
  readonly highWaterMark?: number
}

/** A Kafka record as the engine sees it, keeping the client's record for transactional offset commits. */
interface KafkaSourceRecord extends SourceRecord {
  readonly message: ConsumedRecord
  /** Scaled out: the assignment of its partition it was read in (KafkaConsumer.assignment). */
  readonly assignment?: number | undefined
}

function topicPartition(partition: string): { topic: string; partition: number } {
  const at = partition.lastIndexOf(':')
  return { topic: partition.slice(0, at), partition: Number(partition.slice(at + 1)) }
}

/**
 * Reads topics as a consumer-group member. Positions are Kafka offsets ("topic:partition" → next offset).
 * The checkpoint's positions win over the group's commits, so a replay reads exactly the logged range.
 */
export class KafkaSourceReader implements SourceReader {
  readonly description: string
  readonly groupId: string
  readonly #options: KafkaSourceOptions
  readonly #topics: string[]
  #consumer: KafkaConsumer | undefined
  /** Records fetched beyond a replay's `until`, handed out by the next poll. */
  #held: KafkaSourceRecord[] = []
  #end: Positions | undefined
  readonly bounded: boolean
  readonly instance: string | undefined
  /** Instances share the group's partitions (SourceOpenOptions.scaleOut). */
  #scaleOut = false
  /** The admin client of lag(), kept between calls. */
  #lagAdmin: KafkaAdmin | undefined
  #pending = new Set<string>()
  /**
   * Per partition, the last record poll() handed out (its message carries the generation it was read under)
   * and the assignment it was read in: only that assignment may commit its position again.
   */
  readonly #lastHanded = new Map<string, KafkaSourceRecord>()
  /** The partitions holdBatch() held for the current batch, with their positions at that moment. */
  readonly #heldPositions = new Map<string, ConsumedRecord>()
  /** The plan this instance shows its group, and checks the group's members against. */
  readonly #plan: MemberPlan | undefined

  constructor(options: KafkaSourceOptions, context: SourceContext) {
    this.#options = options
    this.#topics = typeof options.topics === 'string' ? [options.topics] : [...options.topics]
    if (this.#topics.length === 0) throw new UsageError('kafka(): give at least one topic.')
    this.groupId = options.groupId ?? `sluice-${context.pipelineId}`
    this.description = `kafka ${this.#topics.join(',')} (group ${this.groupId})`
    this.bounded = options.endingOffsets === 'latest'
    this.#plan = context.plan ? memberPlan(context.plan) : undefined
    this.instance = options.instanceId ?? context.instance
  }

  get consumer(): KafkaConsumer {
    if (!this.#consumer) throw new Error('internal: Kafka source used before open()')
    return this.#consumer
  }

  async open(given: Positions | undefined, openOptions: SourceOpenOptions = {}): Promise<void> {
    this.#scaleOut = openOptions.scaleOut === true
    // Shared partitions start where the group committed them, read as each is assigned.
    const resumeFrom = this.#scaleOut ? undefined : given
    const admin = new KafkaAdmin(this.#options)
    const access = this.#access()
    try {
      for (const topic of this.#topics) {
        if ((await needing(this.#options, access, () => admin.partitionCount(topic))) === undefined) {
          throw new UsageError(`Source topic "${topic}" does not exist: create it or produce to it first.`)
        }
      }
      // Before joining: a group whose members run another plan under this id is not joined at all.
      await needing(this.#options, access, async () => {
        if (this.#plan) await checkGroupPlan(admin, this.groupId, this.#plan)
        const logEnd = await this.#logEnd(admin)
        if (this.bounded) this.#end = logEnd
        this.#pending = await this.#partitionsWithData(admin, logEnd, resumeFrom)
      })
    } finally {
      await admin.close()
    }
    this.#consumer = new KafkaConsumer({
      ...this.#options,
      clientId: this.#options.clientId ?? `sluice-${this.groupId}`,
      groupId: this.groupId,
      topics: this.#topics,
      start: this.#startPosition(resumeFrom),
      ...(this.#options.highWaterMark ? { highWaterMark: this.#options.highWaterMark } : {}),
      ...(this.instance ? { groupInstanceId: this.instance } : {}),
      ...(this.#plan ? { memberData: encodeMemberPlan(this.#plan) } : {}),
      ...(this.#scaleOut ? { cooperative: true } : {}),
    })
    await needing(this.#options, access, () => this.consumer.start())
    if (this.#plan) {
      // After joining: another plan that joined at the same moment passed the first check too. Both stop.
      const admin = new KafkaAdmin(this.#options)
      try {
        const self = this.#consumer.memberId
        await checkGroupPlan(admin, this.groupId, this.#plan, self ? { self } : {})
      } finally {
        await admin.close()
      }
    }
  }

  /** What reading needs: Read on the topics and on the group (which imply Describe). */
  #access(): KafkaAccess[] {
    return [
      ...this.#topics.map((name) => ({ operation: 'Read', resource: 'topic', name }) as const),
      { operation: 'Read', resource: 'group', name: this.groupId },
    ]
  }

  #startPosition(resumeFrom: Positions | undefined): StartPosition {
    const starting = this.#options.startingOffsets ?? 'earliest'
    const fallback = starting === 'latest' ? 'latest' : 'earliest'
    if (resumeFrom && Object.keys(resumeFrom).length > 0) {
      const offsets = Object.entries(resumeFrom).map(([p, offset]) => ({
        ...topicPartition(p),
        offset: BigInt(offset),
      }))
      return { from: 'offsets', offsets, fallback }
    }
    if (typeof starting === 'number') return { from: 'timestamp', timestamp: starting }
    return { from: 'committed', fallback }
  }

  ownedPartitions(): ReadonlySet<string> {
    return this.consumer.ownedPartitions()
  }

  assignment(partition: string): PartitionAssignment | undefined {
    const assigned = this.consumer.assignment(partition)
    return assigned && { start: Number(assigned.start), id: assigned.id }
  }

  /** Partitions are numbered within their topic: tasks of a stateful scaled-out run need one topic. */
  async partitioning(): Promise<{ count: number; numberOf: (partition: string) => number }> {
    if (this.#topics.length !== 1)
      throw new UsageError(
        `A stateful pipeline scales out over one input topic; this one reads ${this.#topics.join(', ')}. Run it with one worker, or merge the topics upstream.`,
      )
    const admin = new KafkaAdmin(this.#options)
    try {
      const count = (await admin.partitionCount(this.#topics[0]!)) ?? 0
      return { count, numberOf: (partition) => topicPartition(partition).partition }
    } finally {
      await admin.close()
    }
  }

  holdBatch(partitions: readonly string[]): ReadonlySet<string> {
    if (partitions.length === 0 || !this.consumer.holdBatch()) return new Set()
    for (const partition of partitions) {
      const record = this.#positionRecord(partition)
      if (record) this.#heldPositions.set(partition, record)
    }
    return new Set(this.#heldPositions.keys())
  }

  /**
   * A record whose "position after" is the partition's position now, read in its current assignment: the last
   * one handed out, or, before any, a stand-in for the one before where the assignment started.
   */
  #positionRecord(partition: string): ConsumedRecord | undefined {
    const last = this.#lastHanded.get(partition)
    if (last && last.assignment === this.consumer.assignment(partition)?.id) return last.message
    return this.consumer.assignmentStartRecord(partition)
  }

  #handOut(out: KafkaSourceRecord[]): KafkaSourceRecord[] {
    for (const r of out) this.#lastHanded.set(r.partition, r)
    return out
  }

  async poll(options: PollOptions): Promise<SourceRecord[]> {
    const out: KafkaSourceRecord[] = []
    const until = options.until
    const held: KafkaSourceRecord[] = []
    const take = (record: KafkaSourceRecord) => {
      const limit = until?.[record.partition]
      if (out.length >= options.maxRecords || (until && (limit === undefined || record.offset >= limit))) {
        held.push(record)
      } else {
        out.push(record)
        if (this.#pending.size > 0) this.#pending.delete(record.partition)
      }
    }
    // Records held back by an earlier poll come first, in their order: scaled out, only those read in the
    // current assignment of their partition (a partition moved away, or lost and given back, is read again
    // from where the group committed it), and only under a batch the consumer holds its assignment for, as
    // for records it hands out itself (a revocation waits for the batch).
    let previous = this.#held
    if (this.#scaleOut) {
      previous = previous.filter((r) => r.assignment === this.consumer.assignment(r.partition)?.id)
      if (previous.length > 0 && !this.consumer.holdBatch()) {
        // A revocation is under way: they wait for the next poll (the consumer read past them, and their
        // partition may stay here).
        this.#held = previous
        return []
      }
    }
    this.#held = held
    for (const r of previous) take(r)
    if (out.length >= options.maxRecords || (out.length > 0 && !until)) return this.#handOut(out)
    const records = await this.consumer.poll({
      maxRecords: options.maxRecords,
      lingerMs: options.lingerMs,
      idleMs: options.idleMs,
      ...(options.upTo
        ? { upTo: new Map(Object.entries(options.upTo).map(([p, o]) => [p, BigInt(o)])) }
        : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    })
    const assignments = new Map<string, number | undefined>()
    for (const message of records) {
      const partition = partitionKey(message.topic, message.partition)
      if (this.#scaleOut && !assignments.has(partition))
        assignments.set(partition, this.consumer.assignment(partition)?.id)
      take({
        partition,
        offset: Number(message.offset),
        key: message.key,
        value: message.value,
        timestamp: Number(message.timestamp),
        headers: message.headers,
        message,
        assignment: assignments.get(partition),
      })
    }
    return this.#handOut(out)
  }

  /** Partitions whose start position is below the log end: they have records to deliver. */
  async #partitionsWithData(
    admin: KafkaAdmin,
    logEnd: Positions,
    resumeFrom: Positions | undefined,
  ): Promise<Set<string>> {
    const pending = new Set<string>()
    const starting = this.#options.startingOffsets ?? 'earliest'
    for (const topic of this.#topics) {
      const [committed, earliest] = await Promise.all([
        admin.committedOffsets(this.groupId, topic),
        admin.offsets(topic, -2n),
      ])
      for (const [partition, low] of earliest) {
        const key = `${topic}:${partition}`
        const end = logEnd[key] ?? 0
        const c = committed.get(partition) ?? -1n
        const start =
          resumeFrom?.[key] ??
          (c >= 0n ? Number(c) : starting === 'latest' || typeof starting === 'number' ? end : Number(low))
        if (end > start) pending.add(key)
      }
    }
    return pending
  }

  pendingPartitions(): ReadonlySet<string> {
    if (this.#pending.size === 0) return this.#pending
    const owned = this.consumer.ownedPartitions()
    return new Set([...this.#pending].filter((p) => owned.has(p)))
  }

  /** Partitions with records still buffered, held back by poll(), or beyond the fetch position. */
  async unread(partitions: readonly string[]): Promise<ReadonlySet<string>> {
    const unread = this.consumer.unread(partitions, await this.consumer.logEnd())
    for (const record of this.#held) unread.add(record.partition)
    return unread
  }

  async endPositions(): Promise<Positions> {
    if (!this.#end) {
      const admin = new KafkaAdmin(this.#options)
      try {
        this.#end = await this.#logEnd(admin)
      } finally {
        await admin.close()
      }
    }
    return this.#end
  }

  /**
   * The last stable offset per partition. A transaction marker can sit at the very end; the records before
   * it end one offset earlier, which reached() tolerates because it compares with the next read position.
   */
  async #logEnd(admin: KafkaAdmin): Promise<Positions> {
    const end: Record<string, number> = {}
    for (const topic of this.#topics) {
      for (const [partition, offset] of await admin.offsets(topic))
        end[`${topic}:${partition}`] = Number(offset)
    }
    return end
  }

  async latestPositions(): Promise<Positions> {
    const end: Record<string, number> = {}
    for (const [partition, offset] of await this.consumer.logEnd()) end[partition] = Number(offset)
    return end
  }

  caughtUp(end: Positions): boolean {
    if (this.#held.length > 0) return false
    if (!this.#scaleOut)
      return this.consumer.caughtUp(new Map(Object.entries(end).map(([p, o]) => [p, BigInt(o)])))
    // A scaled-out instance has read to the end when the partitions it owns are read to it and the group has
    // committed the others: an assignment is not final while the group rebalances (a member that joins gets
    // nothing in the first cooperative round), and a partition whose owner died comes to the survivors.
    if (!this.consumer.assigned) return false
    const owned = this.consumer.ownedPartitions()
    const mine = Object.entries(end).filter(([p]) => owned.has(p))
    if (!this.consumer.caughtUp(new Map(mine.map(([p, o]) => [p, BigInt(o)])))) return false
    if (!this.#groupDone) this.#checkGroupDone(end)
    return this.#groupDone
  }

  /** Whether the group's commits reached `end` everywhere, asked in the background (caughtUp is synchronous). */
  #groupDone = false
  #groupCheck: Promise<void> | undefined

  #checkGroupDone(end: Positions): void {
    this.#groupCheck ??= this.committedPositions()
      .then((committed) => {
        // One short of the end counts: a partition written transactionally ends with a commit marker, which
        // no record (and so no committed position) passes.
        this.#groupDone = Object.entries(end).every(([p, o]) => o === 0 || (committed[p] ?? 0) >= o - 1)
      })
      .catch(() => {})
      .finally(() => {
        this.#groupCheck = undefined
      })
  }

  finishedBatch(): void {
    this.#heldPositions.clear()
    this.#consumer?.finishedBatch()
  }

  /**
   * The group's lag per partition. Asked every few seconds from the batch loop: one admin client serves every
   * call (a new one per call was a connection and a metadata request each time), dropped after a failure so
   * that the next call connects afresh.
   */
  async lag(): Promise<Record<string, number> | undefined> {
    this.#lagAdmin ??= new KafkaAdmin(this.#options)
    const admin = this.#lagAdmin
    try {
      const lag: Record<string, number> = {}
      for (const topic of this.#topics) {
        for (const l of await admin.groupLag(this.groupId, topic))
          lag[`${topic}:${l.partition}`] = Number(l.lag)
      }
      return lag
    } catch (error) {
      this.#lagAdmin = undefined
      await admin.close().catch(() => {})
      throw error
    }
  }

  /** Non-transactional sinks: commit the group's offsets once the batch is durable, for Kafka's lag tools. */
  async acknowledge(_next: Positions, records: readonly SourceRecord[]): Promise<void> {
    await this.consumer.commit(records.map((r) => (r as KafkaSourceRecord).message))
  }

  /**
   * Transactional sinks: the group's offsets commit atomically with the batch's output, each with `metadata`
   * (the sink stores the batch id there: committedBatch() reads it back).
   */
  /**
   * Commits the group's offsets after `records` in `tx`, and the unchanged offsets of `held` partitions (the
   * position after the last record handed out of each), so that the broker checks this member's generation
   * for them too.
   */
  async commitInTransaction(
    tx: KafkaTransaction,
    records: readonly SourceRecord[],
    metadata: string | null = null,
    held: readonly string[] = [],
  ): Promise<void> {
    // Only each partition's last record matters (its offset + 1 is committed): found here in one pass, so the
    // transaction is handed a few records, not the batch's tens of thousands.
    const last = new Map<string, KafkaSourceRecord>()
    for (const record of records) {
      const seen = last.get(record.partition)
      if (seen === undefined || seen.offset < record.offset)
        last.set(record.partition, record as KafkaSourceRecord)
    }
    const messages: ConsumedRecord[] = []
    for (const record of last.values()) messages.push(record.message)
    for (const partition of held) {
      if (last.has(partition)) continue
      // The position as it was when the batch held the partition, under the membership of that moment: an
      // instance that lost the partition since (a process frozen past its session timeout) is fenced by it.
      // Without it, a batch of windows closed for that partition would commit with no offset to fence on.
      const record = this.#heldPositions.get(partition)
      if (!record)
        throw new KafkaError(
          `internal: partition ${partition} ran in this batch without records, but the source did not hold it`,
          { retryable: false },
        )
      messages.push(record)
    }
    await needing(this.#options, this.#access(), () => tx.commitOffsets(this.consumer, messages, metadata))
  }

  /** The group's committed offsets per partition ("topic:partition" → next offset). */
  async committedPositions(): Promise<Record<string, number>> {
    return (await this.committedWithMetadata()).positions
  }

  /** The group's committed offsets per partition, and the metadata strings committed with them. */
  async committedWithMetadata(): Promise<{ positions: Record<string, number>; metadata: string[] }> {
    const admin = new KafkaAdmin(this.#options)
    try {
      const positions: Record<string, number> = {}
      const metadata: string[] = []
      for (const topic of this.#topics) {
        for (const [partition, c] of await admin.committedOffsetsAndMetadata(this.groupId, topic)) {
          if (c.offset < 0n) continue
          positions[`${topic}:${partition}`] = Number(c.offset)
          if (c.metadata) metadata.push(c.metadata)
        }
      }
      return { positions, metadata }
    } finally {
      await admin.close()
    }
  }

  async close(): Promise<void> {
    const lagAdmin = this.#lagAdmin
    this.#lagAdmin = undefined
    await lagAdmin?.close().catch(() => {})
    await this.#consumer?.close()
  }
}

/** A Kafka source: `pipeline('x').from(kafka({ topics: 'events' }))`. Values are the raw bytes. */
export function kafka(options: KafkaSourceOptions): SourceSpec<Buffer> {
  const topics = typeof options.topics === 'string' ? [options.topics] : [...options.topics]
  return {
    type: 'kafka',
    options: {
      topics,
      ...(options.groupId ? { groupId: options.groupId } : {}),
      startingOffsets: options.startingOffsets ?? 'earliest',
      ...(options.endingOffsets ? { endingOffsets: options.endingOffsets } : {}),
    },
    identity: { topics },
    scalesOut: true,
    create: (context) => new KafkaSourceReader(options, context),
    groupView: (pipelineId) => kafkaGroupView(options, options.groupId ?? `sluice-${pipelineId}`, topics),
  }
}
