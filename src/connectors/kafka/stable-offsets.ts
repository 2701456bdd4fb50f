import { type Admin, type Consumer, GenericError, ProtocolError } from '@platformatic/kafka'
import { KafkaError } from '../../errors.ts'
import { formatDuration } from '../../window/duration.ts'
import { hookApi } from './api-hook.ts'

const UNSTABLE_OFFSET_COMMIT = 88

/**
 * How long a read of committed offsets waits for open transactions to end before it fails. A transaction ends
 * at the latest when its timeout passes (Sluice's producers: 30 s; Java's default: 60 s) and the
 * coordinator's abort sweep (every 10 s by default) aborts it.
 */
export const STABLE_OFFSETS_WAIT_MS = 120_000

/** The request groups of OffsetFetch, as the client passes them (every version). */
interface RequestedGroup {
  readonly groupId: string
}

interface AnsweredTopic {
  readonly name: string
  readonly partitions: readonly { readonly partitionIndex: number; readonly errorCode: number }[]
}

/** An OffsetFetch response: v8+ answers per group; v7 and older answer one group's topics at the top. */
interface OffsetFetchResponseLike {
  readonly groups?: readonly { readonly groupId: string; readonly topics: readonly AnsweredTopic[] }[]
  readonly topics?: readonly AnsweredTopic[]
}

/**
 * Makes every OffsetFetch of `client` ask for stable offsets (KIP-447, `require_stable`, OffsetFetch v7+) and
 * wait until they are. A partition whose offsets a transaction has committed but not yet ended (a pipeline
 * instance that owned it until a rebalance, still committing) is answered UNSTABLE_OFFSET_COMMIT instead of
 * its previous offset: reading that one would process its records again and write them twice. The call is
 * repeated, 20 ms doubling to 500 ms apart, until the transaction has ended (then the answer is the offset
 * it committed, or the previous one if it aborted), or fails with a KafkaError naming the group and
 * partitions after `maxWaitMs`.
 *
 * The client (2.12.1) never asks for stable offsets from a consumer (the MessagesStream positions newly
 * assigned partitions with listCommittedOffsets), and an admin that asks gives up after its few retries.
 */
export function requireStableOffsets(client: Consumer | Admin, maxWaitMs = STABLE_OFFSETS_WAIT_MS): void {
  hookApi(client, 'OffsetFetch', (offsetFetch) => (...args: unknown[]) => {
    // Every version takes (connection, groups, requireStable, callback); v6 and older ignore the flag.
    const [connection, groups, , done] = args as [
      unknown,
      readonly RequestedGroup[],
      boolean,
      (error: Error | null, response?: unknown) => void,
    ]
    const started = Date.now()
    let delayMs = 20
    const attempt = () =>
      offsetFetch(connection, groups, true, (error: Error | null, response?: unknown) => {
        const unstable = error ? unstablePartitions(error, groups) : undefined
        if (!unstable) return done(error, response)
        const waitedMs = Date.now() - started
        if (waitedMs >= maxWaitMs) return done(stillUnstable(unstable, maxWaitMs, error as Error))
        setTimeout(attempt, Math.min(delayMs, maxWaitMs - waitedMs))
        delayMs = Math.min(500, delayMs * 2)
      })
    attempt()
  })
}

/**
 * The partitions answered UNSTABLE_OFFSET_COMMIT, per group (`group "g" (topic:0, topic:3)`), when that is the
 * response's only error.
 */
function unstablePartitions(error: Error, groups: readonly RequestedGroup[]): string[] | undefined {
  const errors = error instanceof AggregateError ? (error.errors as unknown[]) : [error]
  const onlyUnstable = errors.every((e) => e instanceof ProtocolError && e.apiCode === UNSTABLE_OFFSET_COMMIT)
  if (errors.length === 0 || !onlyUnstable) return undefined
  const response = (error as { response?: OffsetFetchResponseLike }).response
  const answered = response?.groups?.length
    ? response.groups
    : [{ groupId: groups[0]?.groupId ?? '?', topics: response?.topics ?? [] }]
  return answered.flatMap(({ groupId, topics }) => {
    const partitions = topics.flatMap(({ name, partitions }) =>
      partitions
        .filter((p) => p.errorCode === UNSTABLE_OFFSET_COMMIT)
        .map((p) => `${name}:${p.partitionIndex}`),
    )
    return partitions.length > 0 ? [`group "${groupId}" (${partitions.join(', ')})`] : []
  })
}

/**
 * The client must not retry this one (it would wait as long again), so it gets one of its own errors marked
 * not retriable; our KafkaError, the reason, is its cause.
 */
function stillUnstable(partitions: readonly string[], waitedMs: number, cause: Error): GenericError {
  const reason = new KafkaError(
    `Committed offsets of consumer ${partitions.join('; ')} are still held by an open transaction ` +
      `after ${formatDuration(waitedMs)} of waiting (UNSTABLE_OFFSET_COMMIT): a transactional producer committing this ` +
      "group's offsets has neither committed nor aborted. Kafka aborts it once its transaction timeout " +
      'passes; look for a hung instance of the pipeline.',
    { cause },
  )
  return new GenericError(ProtocolError.code, reason.message, { canRetry: false, cause: reason })
}
