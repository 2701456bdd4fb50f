import type { Message, MessagesStream } from '@platformatic/kafka'
import { partitionKey } from './records.ts'

/**
 * One partition's records through the stream's buffer, which is first in, first out: the n-th record poll()
 * reads of a partition is the n-th the client pushed of it.
 */
interface PartitionReads {
  /** Records the client pushed into the buffer. */
  pushed: number
  /** Records poll() read from the buffer, handed out or dropped. */
  read: number
  /** The records pushed up to this count came before the partition's current positioning (stale). */
  staleUntil: number
  /** The offset of the last record pushed. */
  lastBuffered: bigint | undefined
  /** The offset after the last record poll() took (or where the partition was positioned since). */
  taken: bigint | undefined
}

/**
 * What a consumer's stream buffer received of each partition ("topic:partition") and what poll() took from
 * it: which records to drop (fetched before the partition was positioned anew, or read already) and which
 * partitions still have records waiting there.
 */
export class BufferedReads {
  readonly #reads = new Map<string, PartitionReads>()

  /**
   * Counts the records the client pushes into `stream`'s buffer. It pushes each with Readable#push (the
   * stream contract); what sits there per partition is not visible otherwise, and a partition whose records
   * wait in the buffer behind others' is behind, not idle.
   */
  track(stream: MessagesStream<Buffer, Buffer, Buffer, Buffer>): void {
    const push = stream.push.bind(stream)
    stream.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
      const message = chunk as Message<Buffer, Buffer, Buffer, Buffer> | null
      if (message) {
        const reads = this.#of(partitionKey(message.topic, message.partition))
        reads.pushed++
        // The offset itself, not the one after it: no BigInt made per record (waiting() compares accordingly).
        reads.lastBuffered = message.offset
      }
      return push(chunk, encoding)
    }
  }

  /**
   * poll() read the record at `offset` of `key` from the buffer: whether it is new. Not when it was fetched
   * before the partition was positioned anew (an earlier ownership's read-ahead: the stream fetches it again
   * from where it is positioned now), nor, for a cooperative member, when it lies below what was taken
   * already (a rejoin re-positions every owned partition at its committed offset, behind what was read and
   * may be in flight: the records read again are not handed out twice).
   */
  take(key: string, offset: bigint, cooperative: boolean): boolean {
    const reads = this.#of(key)
    reads.read++
    if (reads.read <= reads.staleUntil) return false
    if (cooperative && offset < (reads.taken ?? -1n)) return false
    reads.taken = offset + 1n
    return true
  }

  /**
   * The stream positioned `key`, newly owned, at `at`. The records of it still in the buffer were fetched in
   * an earlier ownership, from where that had read to: handed out now they would start this ownership past
   * `at`, and the refetched records below them would be dropped as read already (lost). So they are dropped.
   */
  positioned(key: string, at: bigint): void {
    const reads = this.#of(key)
    reads.staleUntil = reads.pushed
    reads.taken = at
  }

  /** Whether the buffer holds records of `key` that poll() has not taken yet. */
  waiting(key: string): boolean {
    const reads = this.#reads.get(key)
    return reads?.lastBuffered !== undefined && reads.lastBuffered >= (reads.taken ?? -1n)
  }

  #of(key: string): PartitionReads {
    let reads = this.#reads.get(key)
    if (!reads) {
      reads = { pushed: 0, read: 0, staleUntil: 0, lastBuffered: undefined, taken: undefined }
      this.#reads.set(key, reads)
    }
    return reads
  }
}
