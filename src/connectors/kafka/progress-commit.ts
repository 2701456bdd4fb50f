import {
  type Callback,
  type ClusterMetadata,
  type Connection,
  type Consumer,
  kGetApi,
  kGetConnection,
  kMetadata,
  type offsetCommitV9,
} from '@platformatic/kafka'
import { call, hasApiCode, withClientRetry } from './client-calls.ts'

type TopicOffsets = offsetCommitV9.OffsetCommitRequestTopic
type OffsetCommitArgs = [
  groupId: string,
  generationId: number,
  memberId: string,
  groupInstanceId: string | null,
  topics: TopicOffsets[],
]
type OffsetCommitApi = (connection: Connection, ...args: [...OffsetCommitArgs, Callback<unknown>]) => void

/** The position after a partition's last processed record. */
export interface ProgressOffset {
  readonly topic: string
  readonly partition: number
  readonly offset: bigint
  readonly leaderEpoch: number
}

/** The group membership to commit under. */
export interface CommitIdentity {
  readonly groupId: string
  readonly generationId: number
  readonly memberId: string
  readonly coordinatorId: number
  readonly groupInstanceId: string | null
}

/**
 * Commits the group's offsets as progress only — for a sink that keeps its own positions, so that Kafka's lag
 * tools see how far the pipeline got — in ONE OffsetCommit request under `identity`, without ever joining the
 * group. Returns false, having committed nothing, when the group is rebalancing or has moved to another
 * generation: the next batch commits again (Kafka Streams skips a commit during a rebalance the same way).
 *
 * The client's own commit() answers REBALANCE_IN_PROGRESS by joining the group and committing again. A
 * cooperative rebalance waits for the open batch to finish before it completes the join, so a commit made
 * inside the batch that waited for that join never returned: the instance stopped, still in the group.
 */
export async function commitProgress(
  consumer: Consumer,
  identity: CommitIdentity,
  offsets: readonly ProgressOffset[],
): Promise<boolean> {
  if (offsets.length === 0) return true
  const topics = new Map<string, TopicOffsets>()
  for (const o of offsets) {
    let topic = topics.get(o.topic)
    if (!topic) {
      topic = { name: o.topic, partitions: [] }
      topics.set(o.topic, topic)
    }
    topic.partitions.push({
      partitionIndex: o.partition,
      committedOffset: o.offset,
      committedLeaderEpoch: o.leaderEpoch,
      committedMetadata: null,
    })
  }
  let committed = true
  await withClientRetry(consumer, 'sluiceProgressCommit', async () => {
    const cluster = await call<ClusterMetadata>((cb) =>
      consumer[kMetadata]({ topics: [...topics.keys()] }, cb),
    )
    const broker = cluster.brokers.get(identity.coordinatorId)
    if (!broker) throw new Error(`group coordinator ${identity.coordinatorId} is not in the cluster metadata`)
    const connection = await call<Connection>((cb) => consumer[kGetConnection](broker, cb))
    const api = (await call((cb) =>
      consumer[kGetApi]<OffsetCommitArgs, unknown>('OffsetCommit', cb),
    )) as unknown as OffsetCommitApi
    try {
      await call((cb) =>
        api(
          connection,
          identity.groupId,
          identity.generationId,
          identity.memberId,
          identity.groupInstanceId,
          [...topics.values()],
          cb,
        ),
      )
    } catch (error) {
      if (!hasApiCode(error, MEMBERSHIP_MOVED)) throw error
      committed = false
    }
  })
  return committed
}

/**
 * The coordinator moved or is loading (14, 15, 16), or the membership moved on: ILLEGAL_GENERATION,
 * UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS, FENCED_INSTANCE_ID (22, 25, 27, 82). Not this commit's turn.
 */
const MEMBERSHIP_MOVED = new Set([14, 15, 16, 22, 25, 27, 82])
