import type { Callback, ClusterMetadata, Consumer } from '@platformatic/kafka'
import { partitionKey } from './records.ts'

/** The parts of the stream's fetch request and of the response that the check reads. */
interface FetchOptionsLike {
  readonly topics: readonly {
    readonly topicId: string
    readonly partitions: readonly { readonly partition: number; readonly fetchOffset: bigint }[]
  }[]
}
interface FetchResponseLike {
  readonly responses: readonly {
    readonly topicId: string
    readonly partitions: readonly { readonly partitionIndex: number; records?: unknown }[]
  }[]
}

type Fetch = (options: FetchOptionsLike, callback?: Callback<FetchResponseLike>) => unknown
type Metadata = (options: unknown, callback?: Callback<ClusterMetadata>) => unknown

/**
 * Drops, from each Fetch response the stream receives, the records of every partition whose fetch position
 * moved while the request was in flight, as Kafka's Java consumer discards a fetch whose offset no longer
 * matches the partition's position. The client (@platformatic/kafka 2.12.1) applies any response: a fetch
 * sent from the old position of a partition that was then revoked and assigned back (a member woken after
 * its session timeout, its partitions gone and returned) set the position past the group's committed
 * offset again, and handed out records from there. The records between were read by no one: lost.
 *
 * `positions` is the stream's fetch position per "topic:partition" (its offsetsToFetch). Topic ids are named
 * from the metadata the stream asked for just before it built the request.
 */
export function dropStaleFetches(
  consumer: Consumer,
  positions: () => ReadonlyMap<string, bigint> | undefined,
): void {
  const target = consumer as unknown as { fetch: Fetch; metadata: Metadata }
  const names = new Map<string, string>() // topic id → name
  const metadata = target.metadata.bind(consumer)
  target.metadata = (options, callback) => {
    if (!callback) return metadata(options)
    return metadata(options, (error, cluster) => {
      if (cluster) for (const [name, topic] of cluster.topics) names.set(topic.id, name)
      callback(error, cluster as ClusterMetadata)
    })
  }
  const fetch = target.fetch.bind(consumer)
  target.fetch = (options, callback) => {
    if (!callback) return fetch(options)
    return fetch(options, (error, response) => {
      if (response) dropMoved(options, response, names, positions())
      callback(error, response as FetchResponseLike)
    })
  }
}

function dropMoved(
  request: FetchOptionsLike,
  response: FetchResponseLike,
  names: ReadonlyMap<string, string>,
  positions: ReadonlyMap<string, bigint> | undefined,
): void {
  if (!positions) return
  const moved = new Set<string>() // "topic id:partition"
  for (const { topicId, partitions } of request.topics) {
    const name = names.get(topicId)
    if (name === undefined) continue
    for (const { partition, fetchOffset } of partitions)
      if (positions.get(partitionKey(name, partition)) !== fetchOffset) moved.add(`${topicId}:${partition}`)
  }
  if (moved.size === 0) return
  for (const { topicId, partitions } of response.responses)
    for (const partition of partitions)
      if (moved.has(`${topicId}:${partition.partitionIndex}`)) partition.records = undefined
}
