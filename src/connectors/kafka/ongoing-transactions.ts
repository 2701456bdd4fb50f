import {
  type Admin,
  type Callback,
  type ClusterMetadata,
  type Connection,
  kGetApi,
  kGetConnection,
  kMetadata,
} from '@platformatic/kafka'
import { call } from './client-calls.ts'

interface DescribeProducersAnswer {
  readonly topics: readonly {
    readonly partitions: readonly {
      readonly partitionIndex: number
      readonly errorCode: number
      readonly activeProducers: readonly {
        readonly producerId: bigint
        readonly currentTxnStartOffset: bigint
      }[]
    }[]
  }[]
}
type DescribeProducersApi = (
  connection: Connection,
  topics: { name: string; partitionIndexes: number[] }[],
  callback: Callback<DescribeProducersAnswer>,
) => void

interface ListTransactionsAnswer {
  readonly errorCode: number
  readonly transactionStates: readonly { readonly producerId: bigint; readonly transactionState: string }[]
}
type ListTransactionsApi = (
  connection: Connection,
  stateFilters: string[],
  producerIdFilters: bigint[],
  durationFilter: bigint,
  transactionalIdPattern: string | null,
  callback: Callback<ListTransactionsAnswer>,
) => void

/**
 * Where the Ongoing transactions open on some of a topic's partitions start, when every transaction open on
 * them is Ongoing; undefined when one is being completed (its commit or abort decided, its markers not all
 * written yet, which is when a partition's last stable offset still ends before writes about to become
 * visible) or the brokers would not say (an older broker, or a principal that may not describe those
 * transactional ids).
 *
 * Why Ongoing ones do not matter to a reader of a changelog partition whose input partition this instance
 * has just been assigned: its position was read with requireStable, so no transaction carrying that input
 * partition's offsets was open then, and every transaction that writes the changelog partition carries them.
 * An Ongoing transaction there is a dead or fenced owner's, and it can only abort. A partition's last stable
 * offset equal to the first of these starts therefore ends exactly where the committed writes end.
 */
export async function ongoingTransactionStarts(
  admin: Admin,
  topic: string,
  partitions: readonly number[],
): Promise<Map<number, bigint> | undefined> {
  const cluster = await call<ClusterMetadata>((cb) =>
    admin[kMetadata]({ topics: [topic], forceUpdate: true }, cb),
  )
  const byLeader = new Map<number, number[]>()
  const layout = cluster.topics.get(topic)
  for (const partition of partitions) {
    const leader = layout?.partitions[partition]?.leader
    if (leader === undefined || leader < 0) return undefined
    byLeader.set(leader, [...(byLeader.get(leader) ?? []), partition])
  }

  // Producers with a transaction open on the partitions, and where it starts, from each partition's leader.
  const describe = (await call((cb) =>
    admin[kGetApi]('DescribeProducers', cb),
  )) as unknown as DescribeProducersApi
  const openTransactions = async (): Promise<Map<string, bigint> | undefined> => {
    const found = new Map<string, bigint>() // "partition/producer id" → start offset
    for (const [leader, indexes] of byLeader) {
      const broker = cluster.brokers.get(leader)
      if (!broker) return undefined
      const connection = await call<Connection>((cb) => admin[kGetConnection](broker, cb))
      const answer = await call<DescribeProducersAnswer>((cb) =>
        describe(connection, [{ name: topic, partitionIndexes: indexes }], cb),
      )
      for (const { partitions: described } of answer.topics)
        for (const partition of described) {
          if (partition.errorCode !== 0) return undefined
          for (const producer of partition.activeProducers)
            if (producer.currentTxnStartOffset >= 0n)
              found.set(`${partition.partitionIndex}/${producer.producerId}`, producer.currentTxnStartOffset)
        }
    }
    return found
  }
  const before = await openTransactions()
  if (!before) return undefined
  const open = new Set([...before.keys()].map((k) => BigInt(k.slice(k.indexOf('/') + 1))))
  const starts = new Map<number, bigint>()
  for (const [k, start] of before) {
    const partition = Number(k.slice(0, k.indexOf('/')))
    const first = starts.get(partition)
    if (first === undefined || start < first) starts.set(partition, start)
  }
  if (open.size === 0) return starts

  // Their state, from whichever broker coordinates each transaction: ask them all.
  const list = (await call((cb) => admin[kGetApi]('ListTransactions', cb))) as unknown as ListTransactionsApi
  const states = new Map<bigint, string>()
  for (const broker of cluster.brokers.values()) {
    const connection = await call<Connection>((cb) => admin[kGetConnection](broker, cb))
    const answer = await call<ListTransactionsAnswer>((cb) => list(connection, [], [...open], -1n, null, cb))
    if (answer.errorCode !== 0) return undefined
    for (const { producerId, transactionState } of answer.transactionStates)
      states.set(producerId, transactionState)
  }
  for (const producerId of open) if (states.get(producerId) !== 'Ongoing') return undefined
  // The same transactions open, at the same starts, after their states were read: each was Ongoing in
  // between, so it was not being completed before either (a producer's transaction moves from Ongoing to
  // completing, never back; a new one starts at a new offset).
  const after = await openTransactions()
  if (!after || after.size !== before.size) return undefined
  for (const [k, start] of before) if (after.get(k) !== start) return undefined
  return starts
}
