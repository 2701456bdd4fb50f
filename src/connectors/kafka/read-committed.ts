import type { Consumer } from '@platformatic/kafka'
import { hookApi } from './api-hook.ts'

/** The parts of a Fetch response (any version the client speaks) that aborted-transaction filtering reads. */
interface FetchedBatch {
  readonly firstOffset: bigint
  readonly lastOffsetDelta: number
  readonly producerId: bigint
  readonly attributes: number
  records: readonly { readonly key?: Buffer | null | undefined }[]
}

interface FetchedPartition {
  abortedTransactions?: readonly { readonly producerId: bigint; readonly firstOffset: bigint }[] | null
  records?: readonly FetchedBatch[] | null
}

export interface FetchResponseLike {
  readonly responses: readonly { readonly partitions: readonly FetchedPartition[] }[]
}

// Record batch attributes (Kafka's DefaultRecordBatch).
const IS_TRANSACTIONAL = 1 << 4
const IS_CONTROL = 1 << 5
/** A control record's key is int16 version, int16 type; type 0 is ABORT, 1 is COMMIT. */
const ABORT = 0

/**
 * Empties, in place, the record batches of aborted transactions in a READ_COMMITTED Fetch response, the way
 * Kafka's Java consumer does (Fetcher/CompletedFetch): walking the batches in offset order, an aborted
 * transaction listed by the broker starts to apply at its first offset, applies to that producer's
 * transactional batches until the producer's ABORT marker, and the list is then emptied so nothing
 * filters the response again.
 *
 * The client (@platformatic/kafka 2.12.1) filters these itself, wrongly: it keeps one range per producer id,
 * so a producer with two aborted transactions in one response (a pipeline restarted after a crash keeps its
 * producer id) had one delivered as if committed, or committed records between them dropped; and it
 * delivers an aborted transaction whose marker is beyond the response. Batches are emptied, not removed,
 * so the consumer still advances its fetch position past them (it reads it from the last batch).
 */
export function dropAbortedTransactions(response: FetchResponseLike): void {
  for (const topic of response.responses) {
    for (const partition of topic.partitions) {
      const listed = partition.abortedTransactions
      if (!listed || listed.length === 0) continue
      partition.abortedTransactions = []
      const batches = partition.records
      if (!batches || batches.length === 0) continue
      const pending = [...listed].sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : 1))
      const aborting = new Set<bigint>()
      let next = 0
      for (const batch of batches) {
        const lastOffset = batch.firstOffset + BigInt(batch.lastOffsetDelta)
        while (next < pending.length && pending[next]!.firstOffset <= lastOffset)
          aborting.add(pending[next++]!.producerId)
        if (!aborting.has(batch.producerId)) continue
        if (batch.attributes & IS_CONTROL) {
          if (controlType(batch) === ABORT) aborting.delete(batch.producerId)
        } else if (batch.attributes & IS_TRANSACTIONAL) {
          batch.records = []
        }
      }
    }
  }
}

function controlType(batch: FetchedBatch): number | undefined {
  const key = batch.records[0]?.key
  return key && key.length >= 4 ? key.readInt16BE(2) : undefined
}

/**
 * Makes `consumer` filter aborted transactions correctly (see dropAbortedTransactions): its Fetch calls go
 * through a wrapper that fixes each response before the client sees it. The client's own filter then finds
 * no aborted transactions listed and changes nothing.
 */
export function filterAbortedTransactions(consumer: Consumer): void {
  hookApi(consumer, 'Fetch', (fetch) => (...args: unknown[]) => {
    const done = args.pop() as (error: Error | null, response?: FetchResponseLike) => void
    fetch(...args, (error: Error | null, response?: FetchResponseLike) => {
      if (response) dropAbortedTransactions(response)
      done(error, response)
    })
  })
}
