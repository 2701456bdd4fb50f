import type { DeadLetter, OutputBatch, SinkContract, SinkSpec, SinkWriter } from '../../runtime/sink.ts'

/**
 * A sink that keeps rows in memory, for tests and notebooks. Exactly-once within a process: it remembers
 * committed batch ids, so a batch replayed in the same process is not added twice.
 */
export interface MemorySink<T> extends SinkSpec<T> {
  /** Rows of committed batches, in order. */
  readonly rows: readonly T[]
  readonly deadLetters: readonly DeadLetter[]
  /** Committed batches, in order. */
  readonly batches: readonly OutputBatch<T>[]
  clear(): void
}

export function memory<T = unknown>(): MemorySink<T> {
  const batches: OutputBatch<T>[] = []
  const committed = new Set<number>()
  let staged: OutputBatch<T> | undefined
  const contract: SinkContract = {
    guarantee: 'exactly-once',
    storesPositions: false,
    commitsSourceOffsets: false,
    storesDeadLetters: true,
  }
  const writer: SinkWriter<T> = {
    description: 'memory',
    async open() {
      return contract
    },
    async write(batch) {
      staged = batch
    },
    async commit(batch) {
      if (staged === batch && !committed.has(batch.batchId)) {
        batches.push(batch)
        committed.add(batch.batchId)
      }
      staged = undefined
    },
    async abort() {
      staged = undefined
    },

    async close() {},
  }
  return {
    type: 'memory',
    options: {},
    create: () => writer,
    get rows() {
      return batches.flatMap((b) => b.rows)
    },
    get deadLetters() {
      return batches.flatMap((b) => b.deadLetters)
    },
    get batches() {
      return batches
    },
    clear() {
      batches.length = 0
      committed.clear()
    },
  }
}
