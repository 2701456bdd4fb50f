import { AT_LEAST_ONCE, type OutputBatch, type SinkSpec, type SinkWriter } from '../../runtime/sink.ts'

/**
 * Hands each batch to a function. At-least-once: after a crash the last batch may be handed over again with
 * the same batchId and the same rows, so an idempotent function (keyed on batchId) gets exactly-once effects.
 */
export function foreachBatch<T>(fn: (batch: OutputBatch<T>) => void | Promise<void>): SinkSpec<T> {
  const writer: SinkWriter<T> = {
    description: 'foreachBatch',
    async open() {
      return AT_LEAST_ONCE
    },
    async write(batch) {
      await fn(batch)
    },
    async commit() {},
    async close() {},
  }
  return { type: 'foreachBatch', options: {}, create: () => writer }
}
