import { MessagesStreamFallbackModes, MessagesStreamModes } from '@platformatic/kafka'
import { KafkaAdmin } from './admin.ts'
import type { KafkaConnection } from './connection.ts'

/** Where a consumer starts on partitions the group has no committed offset for (or ignoring commits). */
export type StartPosition =
  | { readonly from: 'committed'; readonly fallback: 'earliest' | 'latest' }
  | { readonly from: 'earliest' | 'latest' }
  | { readonly from: 'timestamp'; readonly timestamp: number }
  | {
      readonly from: 'offsets'
      readonly offsets: readonly { topic: string; partition: number; offset: bigint }[]
      /** Partitions not listed start here. */
      readonly fallback: 'earliest' | 'latest'
    }

/** The client's stream options that start reading at `start`. */
export async function streamPositioning(start: StartPosition, connection: KafkaConnection, topics: string[]) {
  switch (start.from) {
    case 'committed':
      return {
        mode: MessagesStreamModes.COMMITTED,
        fallbackMode:
          start.fallback === 'earliest'
            ? MessagesStreamFallbackModes.EARLIEST
            : MessagesStreamFallbackModes.LATEST,
      }
    case 'earliest':
      return { mode: MessagesStreamModes.EARLIEST }
    case 'latest':
      return { mode: MessagesStreamModes.LATEST }
    case 'offsets':
      return {
        mode: MessagesStreamModes.MANUAL,
        offsets: start.offsets.map((o) => ({ ...o })),
        fallbackMode:
          start.fallback === 'earliest'
            ? MessagesStreamFallbackModes.EARLIEST
            : MessagesStreamFallbackModes.LATEST,
      }
    case 'timestamp':
      return {
        mode: MessagesStreamModes.MANUAL,
        offsets: await offsetsAtTime(connection, topics, start.timestamp),
      }
  }
}

/** First offset at or after `timestamp` on each partition; the log end where nothing is that recent. */
async function offsetsAtTime(connection: KafkaConnection, topics: string[], timestamp: number) {
  const admin = new KafkaAdmin(connection)
  try {
    const result: { topic: string; partition: number; offset: bigint }[] = []
    for (const topic of topics) {
      const [atTime, ends] = await Promise.all([
        admin.offsets(topic, BigInt(timestamp)),
        admin.offsets(topic),
      ])
      for (const [partition, end] of ends) {
        const offset = atTime.get(partition) ?? -1n
        result.push({ topic, partition, offset: offset >= 0n ? offset : end })
      }
    }
    return result
  } finally {
    await admin.close()
  }
}
