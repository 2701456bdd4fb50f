import type { SinkSpec, SinkWriter } from '../../../src/runtime/sink.ts'

/**
 * The sink as the runtime would see it if it did not store positions (no `committedPosition()` or
 * `hasCommitted()`): a lost
 * checkpoint then replays from the start, and the sink's own defences (skip what it holds, refuse a batch
 * straddling its position) are what stands between the replay and duplicates.
 */
export function withoutPosition<T>(inner: SinkSpec<T>): SinkSpec<T> {
  return {
    ...inner,
    create: (): SinkWriter<T> => {
      const writer = inner.create()
      return {
        description: writer.description,
        open: async (context) => ({ ...(await writer.open(context)), storesPositions: false }),
        write: (batch) => writer.write(batch),
        commit: (batch, context) => writer.commit(batch, context),
        abort: (batch) => writer.abort?.(batch) ?? Promise.resolve(),
        close: () => writer.close(),
      }
    },
  }
}
