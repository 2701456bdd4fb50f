import type { Consumer, GroupAssignment } from '@platformatic/kafka'
import { partitionKey } from './records.ts'

/** One unbroken ownership of a partition by this member. */
export interface Ownership {
  /** Distinguishes this ownership from any earlier one of the same partition. */
  readonly serial: number
  /** The group generation it began in. */
  readonly generation: number
}

/**
 * Since which group generation this member has owned each of its partitions without a break.
 *
 * A cooperative member keeps what it owns across rebalances, so it may commit records fetched under an
 * older generation under its current one (KafkaConsumer.commitGeneration) — but only for partitions it
 * owned the whole time. A member that lost its membership (a process frozen past its session timeout, then
 * woken: the client answers UNKNOWN_MEMBER_ID or ILLEGAL_GENERATION by emptying its assignments and
 * rejoining) may be given the same partitions back after another member processed and committed them
 * meanwhile; what it read and held before is then stale, and so is its state. The client never says
 * "partitions lost" (Java's onPartitionsLost), so this watches every change of its `assignments`: a
 * partition missing from one assignment and present in a later one starts a new ownership.
 */
export class PartitionOwnership {
  readonly #since = new Map<string, Ownership>()
  readonly #consumer: Consumer
  #serial = 0

  constructor(consumer: Consumer) {
    this.#consumer = consumer
    let current = consumer.assignments
    this.#record(current)
    // `assignments` is a plain public field the client reassigns (sync, revoke round, lost membership).
    Object.defineProperty(consumer, 'assignments', {
      configurable: true,
      enumerable: true,
      get: () => current,
      set: (next: GroupAssignment[] | null) => {
        current = next
        this.#record(next)
      },
    })
  }

  /** The current unbroken ownership of `key`; undefined when not owned. */
  of(key: string): Ownership | undefined {
    return this.#since.get(key)
  }

  #record(assignments: GroupAssignment[] | null): void {
    const owned = new Set(
      (assignments ?? []).flatMap(({ topic, partitions }) => partitions.map((p) => partitionKey(topic, p))),
    )
    for (const key of [...this.#since.keys()]) if (!owned.has(key)) this.#since.delete(key)
    for (const key of owned)
      if (!this.#since.has(key))
        this.#since.set(key, { serial: ++this.#serial, generation: this.#consumer.generationId })
  }
}
