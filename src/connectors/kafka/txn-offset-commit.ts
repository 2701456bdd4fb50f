import {
  type Callback,
  type ClusterMetadata,
  type Connection,
  kGetApi,
  kGetConnection,
  kMetadata,
  type Message,
  type Producer,
  type txnOffsetCommitV4,
} from '@platformatic/kafka'
import { call, hasApiCode, withClientRetry } from './client-calls.ts'
import { partitionKey } from './records.ts'

type TopicOffsets = txnOffsetCommitV4.TxnOffsetCommitRequestTopic
type TxnOffsetCommitArgs = [
  transactionalId: string,
  groupId: string,
  producerId: bigint,
  producerEpoch: number,
  generationId: number,
  memberId: string,
  groupInstanceId: string | null,
  topics: TopicOffsets[],
]
type TxnOffsetCommitApi = (
  connection: Connection,
  ...args: [...TxnOffsetCommitArgs, Callback<unknown>]
) => void

/** What the client stores in `message.metadata.consumer`: the group generation KIP-447 fences on. */
interface ConsumerIdentity {
  readonly groupId: string
  readonly generationId: number
  readonly memberId: string
  readonly coordinatorId: number
}

/**
 * Commits, in the producer's open transaction, the position after each of `lastPerPartition` with ONE
 * TxnOffsetCommit request per consumer generation (normally one for the whole batch). The client's own
 * `addOffset(message)` sends one request per partition, and its calls must be serialised (see
 * transaction.ts), so a 4-partition batch paid 4 round trips to the group coordinator.
 *
 * The request is the one the client builds (transactional id, producer id and epoch, group id, generation
 * id, member id, leader epoch from metadata), only with every partition in it, so the broker fences zombies
 * exactly as before. `current`, asked on each attempt, may replace the generation a group of records was
 * fetched under (see KafkaConsumer.commitGeneration). AddOffsetsToTxn for the group must already have been sent in this transaction. Errors
 * are retried as the client retries its own (only when every error in the chain says it can be).
 */
export async function commitOffsetsInOneRequest(
  producer: Producer,
  transactionalId: string,
  lastPerPartition: readonly Message[],
  metadata: string | null = null,
  current?: (
    fetched: { readonly memberId: string; readonly generationId: number },
    partitions: readonly string[],
  ) =>
    | { readonly generationId: number; readonly memberId: string; readonly coordinatorId: number }
    | undefined,
): Promise<void> {
  const producerId = producer.producerId
  const producerEpoch = producer.producerEpoch
  if (producerId === undefined || producerEpoch === undefined)
    throw new Error('internal: transactional producer without a producer id')
  const byGeneration = new Map<string, { identity: ConsumerIdentity; messages: Message[] }>()
  for (const message of lastPerPartition) {
    const identity = consumerIdentity(message)
    const key = `${identity.groupId}\0${identity.generationId}\0${identity.memberId}\0${identity.coordinatorId}`
    let group = byGeneration.get(key)
    if (!group) {
      group = { identity, messages: [] }
      byGeneration.set(key, group)
    }
    group.messages.push(message)
  }
  for (const { identity: fetched, messages } of byGeneration.values()) {
    const partitions = messages.map((m) => partitionKey(m.topic, m.partition))
    const owner = current ? () => current(fetched, partitions) : undefined
    await acrossRebalance(owner, () =>
      withClientRetry(producer, 'sluiceTxnOffsetCommit', async () => {
        // Asked on every attempt: a retry after REBALANCE_IN_PROGRESS goes under the generation that followed.
        const identity = { ...fetched, ...owner?.() }
        const topics = [...new Set(messages.map((m) => m.topic))]
        const cluster = await call<ClusterMetadata>((cb) => producer[kMetadata]({ topics }, cb))
        const broker = cluster.brokers.get(identity.coordinatorId)
        if (!broker)
          throw new Error(`group coordinator ${identity.coordinatorId} is not in the cluster metadata`)
        const connection = await call<Connection>((cb) => producer[kGetConnection](broker, cb))
        const api = (await call((cb) =>
          producer[kGetApi]<TxnOffsetCommitArgs, unknown>('TxnOffsetCommit', cb),
        )) as unknown as TxnOffsetCommitApi
        const request = new Map<string, TopicOffsets>()
        for (const m of messages) {
          let topic = request.get(m.topic)
          if (!topic) {
            topic = { name: m.topic, partitions: [] }
            request.set(m.topic, topic)
          }
          topic.partitions.push({
            partitionIndex: m.partition,
            committedOffset: m.offset + 1n,
            committedLeaderEpoch: cluster.topics.get(m.topic)?.partitions[m.partition]?.leaderEpoch ?? -1,
            committedMetadata: metadata,
          })
        }
        await call((cb) =>
          api(
            connection,
            transactionalId,
            identity.groupId,
            producerId,
            producerEpoch,
            identity.generationId,
            identity.memberId,
            null,
            [...request.values()],
            cb,
          ),
        )
      }),
    )
  }
}

/** ILLEGAL_GENERATION and REBALANCE_IN_PROGRESS: the group moved to a new generation meanwhile. */
const GENERATION_CHANGED = new Set([22, 27])

/**
 * Runs `commit` again when it failed because the group moved to a new generation while the batch ran (a
 * member joined; cooperative rebalancing keeps this member's partitions), as long as `owner` says this member
 * has owned the partitions without a break since their records were fetched (KafkaConsumer.commitGeneration,
 * from every change of its assignment): the next attempt commits under the new generation instead of
 * restarting the run. A member that lost its membership or a partition meanwhile (a woken zombie: the client
 * empties its assignment when it learns it) gets no owner and fails at once, fenced.
 */
async function acrossRebalance(
  owner: (() => unknown) | undefined,
  commit: () => Promise<void>,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await commit()
    } catch (error) {
      if (attempt >= 10 || !hasApiCode(error, GENERATION_CHANGED) || owner?.() === undefined) throw error
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt))
    }
  }
}

function consumerIdentity(message: Message): ConsumerIdentity {
  const consumer = message.metadata?.consumer as Partial<ConsumerIdentity> | undefined
  if (
    !consumer ||
    typeof consumer.groupId !== 'string' ||
    typeof consumer.generationId !== 'number' ||
    typeof consumer.memberId !== 'string' ||
    typeof consumer.coordinatorId !== 'number'
  )
    throw new Error('internal: a record without the consumer group metadata its offset commit needs')
  return consumer as ConsumerIdentity
}
