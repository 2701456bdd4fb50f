import type { EventEmitter } from 'node:events'
import { Admin, ConfigResourceTypes, ListOffsetTimestamps } from '@platformatic/kafka'
import { describeError, KafkaError, kafkaRefusal, UsageError } from '../../errors.ts'
import { baseClientOptions, type KafkaConnection, resolveBrokers } from './connection.ts'
import { ongoingTransactionStarts } from './ongoing-transactions.ts'
import { requireStableOffsets } from './stable-offsets.ts'

export interface TopicSpec {
  readonly partitions?: number
  readonly replicationFactor?: number
  readonly configs?: Readonly<Record<string, string>>
}

export interface PartitionLag {
  readonly topic: string
  readonly partition: number
  /** Next offset to read for the group; -1 when the group never committed on this partition. */
  readonly committed: bigint
  /** Last stable offset (read_committed log end). */
  readonly end: bigint
  readonly lag: bigint
}

/** A consumer group member as DescribeGroups shows it. */
export interface GroupMemberInfo {
  readonly memberId: string
  readonly groupInstanceId: string | null
  readonly clientId: string
  readonly clientHost: string
  /**
   * The userData of the member's subscription. The broker shows subscriptions only while the group is stable:
   * undefined during a rebalance (and for members of KIP-848 groups).
   */
  readonly userData: Buffer | undefined
  /** The partitions assigned to the member ("topic:3"), shown like its subscription: only while the group is stable. */
  readonly partitions?: readonly string[] | undefined
}

export interface GroupDescription {
  /** 'Stable', 'Empty', 'PreparingRebalance', 'CompletingRebalance', 'Dead', … */
  readonly state: string
  readonly members: readonly GroupMemberInfo[]
}

/** Topic and group administration: the only place Sluice talks to Kafka's admin APIs. */
export class KafkaAdmin {
  readonly #admin: Admin
  readonly #brokers: string[]

  #refusedConnection: Error | undefined

  /**
   * `stableOffsets: false` reads committed offsets as they are, not waiting for open transactions: for views
   * of the group (lag), never for deciding where to read.
   */
  constructor(connection: KafkaConnection = {}, options: { readonly stableOffsets?: boolean } = {}) {
    this.#brokers = resolveBrokers(connection.brokers)
    this.#admin = new Admin({ ...baseClientOptions(connection, 'admin'), retries: 2, retryDelay: 250 })
    // A broker refusing our client certificate (mTLS) closes the connection after the handshake: the client's
    // requests only see "Connection closed", the TLS alert reaches the connection's error event alone.
    this.#admin.on('client:broker:connect', ({ connection }: { connection: EventEmitter }) => {
      connection.on('error', (error: unknown) => {
        if (error instanceof Error && error.cause instanceof Error && kafkaRefusal(error.cause))
          this.#refusedConnection = error.cause
      })
    })
    // Exactly-once recovery reads the group's committed offsets: never the ones a transaction is replacing.
    if (options.stableOffsets ?? true) requireStableOffsets(this.#admin)
  }

  /** Number of brokers the cluster reports; throws a KafkaError naming the address when it cannot be reached. */
  async brokerCount(): Promise<number> {
    try {
      const metadata = await this.#admin.metadata({ topics: [], forceUpdate: true })
      return metadata.brokers.size
    } catch (error) {
      throw this.#unreachable(error)
    }
  }

  /** Partition count of a topic, or undefined when it does not exist. */
  async partitionCount(topic: string): Promise<number | undefined> {
    const topics = await this.#call(() => this.#admin.listTopics({ includeInternals: false }))
    if (!topics.includes(topic)) {
      // The list leaves out topics this user may not describe: asked by name, Kafka says which it is.
      const refused = await this.#admin.metadata({ topics: [topic], forceUpdate: true }).then(
        () => undefined,
        (error: unknown) => (kafkaRefusal(error) ? error : undefined),
      )
      if (refused) throw new KafkaError(`Kafka refused to describe topic "${topic}"`, { cause: refused })
      return undefined
    }
    const metadata = await this.#call(() => this.#admin.metadata({ topics: [topic], forceUpdate: true }))
    return metadata.topics.get(topic)?.partitionsCount
  }

  /**
   * Makes sure a topic exists and returns its partition count. When it is missing and `create` is false the
   * caller gets a UsageError that says how to create it.
   */
  async ensureTopic(topic: string, spec: TopicSpec & { create: boolean }): Promise<number> {
    const existing = await this.partitionCount(topic)
    if (existing !== undefined) return existing
    if (!spec.create) {
      throw new UsageError(
        `Topic "${topic}" does not exist and topic creation is disabled: create it first or pass --partitions N.`,
      )
    }
    return this.createTopic(topic, spec)
  }

  /**
   * The largest record batch the topic takes (max.message.bytes, which defaults to the broker's
   * message.max.bytes), or undefined when the cluster does not say (no DescribeConfigs permission).
   */
  async maxMessageBytes(topic: string): Promise<number | undefined> {
    try {
      const [described] = await this.#admin.describeConfigs({
        resources: [
          {
            resourceType: ConfigResourceTypes.TOPIC,
            resourceName: topic,
            configurationKeys: ['max.message.bytes'],
          },
        ],
      })
      const value = Number(described?.configs.find((c) => c.name === 'max.message.bytes')?.value)
      return Number.isSafeInteger(value) && value > 0 ? value : undefined
    } catch {
      return undefined
    }
  }

  async createTopic(topic: string, spec: TopicSpec = {}): Promise<number> {
    const partitions = spec.partitions ?? 1
    const replicas = spec.replicationFactor ?? Math.min(3, await this.brokerCount())
    try {
      await this.#admin.createTopics({
        topics: [topic],
        partitions,
        replicas,
        configs: Object.entries(spec.configs ?? {}).map(([name, value]) => ({ name, value })),
      })
    } catch (error) {
      // Another process may have created it between our check and our request.
      if (/TOPIC_ALREADY_EXISTS|already exists/i.test(describeError(error))) {
        return (await this.partitionCount(topic)) ?? partitions
      }
      throw new KafkaError(`Could not create topic "${topic}": ${describeError(error)}`, { cause: error })
    }
    await this.#waitForLeaders(topic, partitions)
    return partitions
  }

  async deleteTopics(topics: readonly string[]): Promise<void> {
    const existing = new Set(await this.#call(() => this.#admin.listTopics({ includeInternals: false })))
    const present = topics.filter((t) => existing.has(t))
    if (present.length > 0) await this.#call(() => this.#admin.deleteTopics({ topics: present }))
  }

  /** Every topic but Kafka's own (__consumer_offsets, __transaction_state). */
  async listTopics(): Promise<string[]> {
    return this.#call(() => this.#admin.listTopics({ includeInternals: false }))
  }

  /** The ids of every consumer group the cluster knows. */
  async listGroups(): Promise<string[]> {
    return [...(await this.#call(() => this.#admin.listGroups())).keys()]
  }

  /**
   * Deletes a consumer group and its committed offsets; the broker refuses (NON_EMPTY_GROUP) while it has
   * members. An unknown group is nothing to delete.
   */
  async deleteGroup(groupId: string): Promise<void> {
    try {
      await this.#admin.deleteGroups({ groups: [groupId] })
    } catch (error) {
      if (/GROUP_ID_NOT_FOUND|does not exist/i.test(describeError(error))) return
      throw new KafkaError(`Could not delete consumer group "${groupId}": ${describeError(error)}`, {
        cause: error,
        retryable: false,
      })
    }
  }

  /** Offsets per partition at `timestamp` (LATEST by default; read_committed, so the last stable offset). */
  async offsets(
    topic: string,
    timestamp: bigint = ListOffsetTimestamps.LATEST,
    /** false: the log end including open transactions (the high watermark), not the last stable offset. */
    committedOnly = true,
  ): Promise<Map<number, bigint>> {
    const count = await this.partitionCount(topic)
    if (count === undefined) throw new UsageError(`Topic "${topic}" does not exist.`)
    const [listed] = await this.#call(() =>
      this.#admin.listOffsets({
        topics: [
          { name: topic, partitions: range(count).map((partitionIndex) => ({ partitionIndex, timestamp })) },
        ],
        isolationLevel: committedOnly ? 1 : 0,
      }),
    )
    return new Map((listed?.partitions ?? []).map((p) => [p.partitionIndex, p.offset]))
  }

  /**
   * Where the transactions open on `partitions` of `topic` start, when all of them are Ongoing (none being
   * completed); undefined otherwise, or when the brokers would not say (see ongoing-transactions.ts).
   */
  async ongoingTransactionStarts(
    topic: string,
    partitions: readonly number[],
  ): Promise<Map<number, bigint> | undefined> {
    try {
      return await ongoingTransactionStarts(this.#admin, topic, partitions)
    } catch {
      return undefined
    }
  }

  /** Committed offsets of a consumer group on a topic (-1 where it never committed). */
  async committedOffsets(groupId: string, topic: string): Promise<Map<number, bigint>> {
    const committed = await this.committedOffsetsAndMetadata(groupId, topic)
    return new Map([...committed].map(([partition, c]) => [partition, c.offset]))
  }

  /** Committed offsets of a consumer group on a topic, with the metadata string committed beside each. */
  async committedOffsetsAndMetadata(
    groupId: string,
    topic: string,
  ): Promise<Map<number, { offset: bigint; metadata: string | null }>> {
    const count = (await this.partitionCount(topic)) ?? 0
    const [group] = await this.#call(() =>
      this.#admin.listConsumerGroupOffsets({
        groups: [{ groupId, topics: [{ name: topic, partitionIndexes: range(count) }] }],
        requireStable: true,
      }),
    )
    const partitions = group?.topics.find((t) => t.name === topic)?.partitions ?? []
    return new Map(
      partitions.map((p) => [p.partitionIndex, { offset: p.committedOffset, metadata: p.metadata ?? null }]),
    )
  }

  /** The group's state and members; an unknown group is 'Dead' without members. */
  async describeGroup(groupId: string): Promise<GroupDescription> {
    const groups = await this.#call(() => this.#admin.describeGroups({ groups: [groupId] }))
    const group = groups.get(groupId)
    if (!group) return { state: 'Dead', members: [] }
    return {
      state: group.state,
      members: [...group.members.values()].map((m) => {
        const userData = m.metadata?.metadata
        return {
          memberId: m.id,
          groupInstanceId: m.groupInstanceId ?? null,
          clientId: m.clientId,
          clientHost: m.clientHost,
          userData: typeof userData === 'string' ? Buffer.from(userData) : (userData ?? undefined),
          partitions: m.assignments
            ? [...m.assignments.values()].flatMap((a) => a.partitions.map((p) => `${a.topic}:${p}`))
            : undefined,
        }
      }),
    }
  }

  /**
   * Per partition of `topics` ("topic:3"): the group's committed offset (-1n where it never committed), the
   * last stable offset and the lag between them (from the log start where the group never committed), in one
   * ListOffsets and one OffsetFetch (a second ListOffsets only for partitions never committed; partition
   * counts from the client's metadata cache). Offsets are read as they are (see the constructor's
   * stableOffsets).
   */
  async committedAndEnds(
    groupId: string,
    topics: readonly string[],
  ): Promise<Map<string, { committed: bigint; end: bigint; lag: bigint }>> {
    const metadata = await this.#call(() => this.#admin.metadata({ topics: [...topics] }))
    const partitions = topics.map((name) => ({
      name,
      indexes: range(metadata.topics.get(name)?.partitionsCount ?? 0),
    }))
    const [listed, [group]] = await Promise.all([
      this.#call(() =>
        this.#admin.listOffsets({
          topics: partitions.map(({ name, indexes }) => ({
            name,
            partitions: indexes.map((partitionIndex) => ({
              partitionIndex,
              timestamp: ListOffsetTimestamps.LATEST,
            })),
          })),
          isolationLevel: 1,
        }),
      ),
      this.#call(() =>
        this.#admin.listConsumerGroupOffsets({
          groups: [
            {
              groupId,
              topics: partitions.map(({ name, indexes }) => ({ name, partitionIndexes: indexes })),
            },
          ],
        }),
      ),
    ])
    const committed = new Map<string, bigint>()
    for (const t of group?.topics ?? [])
      for (const p of t.partitions) committed.set(`${t.name}:${p.partitionIndex}`, p.committedOffset)
    const out = new Map<string, { committed: bigint; end: bigint; lag: bigint }>()
    const neverCommitted: { topic: string; partition: number }[] = []
    for (const t of listed)
      for (const p of t.partitions) {
        const key = `${t.name}:${p.partitionIndex}`
        const c = committed.get(key) ?? -1n
        out.set(key, { committed: c, end: p.offset, lag: c >= 0n && p.offset > c ? p.offset - c : 0n })
        if (c < 0n) neverCommitted.push({ topic: t.name, partition: p.partitionIndex })
      }
    // A partition the group never committed has everything from its log start still to read.
    if (neverCommitted.length > 0) {
      const starts = await this.#call(() =>
        this.#admin.listOffsets({
          topics: [...new Set(neverCommitted.map((n) => n.topic))].map((name) => ({
            name,
            partitions: neverCommitted
              .filter((n) => n.topic === name)
              .map((n) => ({ partitionIndex: n.partition, timestamp: ListOffsetTimestamps.EARLIEST })),
          })),
        }),
      )
      for (const t of starts)
        for (const p of t.partitions) {
          const entry = out.get(`${t.name}:${p.partitionIndex}`)
          if (entry && entry.end > p.offset)
            out.set(`${t.name}:${p.partitionIndex}`, { ...entry, lag: entry.end - p.offset })
        }
    }
    return out
  }

  /** What the group still has to read, per partition: the same figure `kafka-consumer-groups --describe` prints. */
  async groupLag(groupId: string, topic: string): Promise<PartitionLag[]> {
    const [ends, committed, earliest] = await Promise.all([
      this.offsets(topic),
      this.committedOffsets(groupId, topic),
      this.offsets(topic, ListOffsetTimestamps.EARLIEST),
    ])
    return [...ends]
      .sort(([a], [b]) => a - b)
      .map(([partition, end]) => {
        const c = committed.get(partition) ?? -1n
        const from = c >= 0n ? c : (earliest.get(partition) ?? 0n)
        return { topic, partition, committed: c, end, lag: end > from ? end - from : 0n }
      })
  }

  async close(): Promise<void> {
    await this.#admin.close()
  }

  async #waitForLeaders(topic: string, partitions: number): Promise<void> {
    const deadline = Date.now() + 15_000
    while (Date.now() < deadline) {
      const metadata = await this.#call(() =>
        this.#admin.metadata({ topics: [topic], forceUpdate: true }).catch((error: unknown) => {
          // A broker still loading its logs (just restarted) may not know the topic it just created yet.
          if (/Unknown topic/.test(describeError(error))) return undefined
          throw error
        }),
      )
      const t = metadata?.topics.get(topic)
      if (t && t.partitionsCount === partitions && t.partitions.every((p) => p && p.leader >= 0)) return
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    throw new KafkaError(`Topic "${topic}" was created but its partitions have no leader after 15 s.`)
  }

  async #call<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation()
    } catch (error) {
      if (error instanceof UsageError || error instanceof KafkaError) throw error
      // Ours, carried through the client's retry wrapper (stable-offsets.ts): it says more than "no answer".
      throw ownError(error) ?? this.#unreachable(error)
    }
  }

  #unreachable(error: unknown): KafkaError {
    const refused = this.#refusedConnection
    if (refused) {
      return new KafkaError(
        `Kafka at ${this.#brokers.join(',')} refused the connection: ${kafkaRefusal(refused)}`,
        {
          cause: refused,
          namesRefusal: true,
        },
      )
    }
    const answer = kafkaRefusal(error) ? 'refused the request' : 'did not answer'
    return new KafkaError(`Kafka at ${this.#brokers.join(',')} ${answer}: ${describeError(error)}`, {
      cause: error,
    })
  }
}

/** A KafkaError our hooks handed the client, found among the errors and causes it wrapped it in. */
function ownError(error: unknown, depth = 0): KafkaError | undefined {
  if (error instanceof KafkaError) return error
  if (!(error instanceof Error) || depth > 5) return undefined
  const inner = error instanceof AggregateError ? (error.errors as unknown[]) : []
  for (const e of [...inner, error.cause]) {
    const found = ownError(e, depth + 1)
    if (found) return found
  }
  return undefined
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i)
}
