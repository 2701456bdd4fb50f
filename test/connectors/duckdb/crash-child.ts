/**
 * A pipeline writing to DuckDB that kills its own process with SIGKILL at a chosen point of a chosen batch:
 * `node crash-child.ts <dir> <batchId> <after-commit|after-write|none>`. after-commit dies right after the
 * DuckDB transaction (rows + offsets row) committed and before the checkpoint marks the batch; after-write
 * dies with the transaction still open. The parent restarts it and checks the table.
 */
import { join } from 'node:path'
import { duckdb } from '../../../src/connectors/duckdb/index.ts'
import { memorySource } from '../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { run } from '../../../src/runtime/run.ts'
import type { SinkSpec, SinkWriter } from '../../../src/runtime/sink.ts'

export interface CrashRow {
  readonly id: number
  readonly user: string
  readonly amount: number
  readonly at: string
}

export const CRASH_ROWS: readonly CrashRow[] = Array.from({ length: 2000 }, (_, i) => ({
  id: i,
  user: `u-${i % 37}`,
  amount: (i % 100) / 4,
  at: new Date(Date.UTC(2026, 10, 25, 10) + i * 250).toISOString(),
}))

export type KillPoint = 'after-commit' | 'after-write' | 'none'

/** Wraps a sink so the process dies at `point` of batch `batchId`. */
export function killing<T>(inner: SinkSpec<T>, batchId: number, point: KillPoint): SinkSpec<T> {
  return {
    ...inner,
    create(): SinkWriter<T> {
      const writer = inner.create()
      return {
        description: writer.description,
        open: (c) => writer.open(c),
        async write(batch) {
          await writer.write(batch)
          if (point === 'after-write' && batch.batchId === batchId) process.kill(process.pid, 'SIGKILL')
        },
        async commit(batch, context) {
          await writer.commit(batch, context)
          if (point === 'after-commit' && batch.batchId === batchId) process.kill(process.pid, 'SIGKILL')
        },
        abort: (b) => writer.abort?.(b) ?? Promise.resolve(),
        hasCommitted: (b) => writer.hasCommitted?.(b) ?? Promise.resolve(false),
        close: () => writer.close(),
      }
    },
  }
}

export function crashPipeline(dir: string, batchId: number, point: KillPoint) {
  const sink = duckdb<CrashRow>({ path: join(dir, 'crash.duckdb'), table: 'payments' })
  return pipeline('duckdb-crash')
    .from(memorySource('payments', CRASH_ROWS))
    .to(killing(sink, batchId, point))
}

if (import.meta.main) {
  const [dir, batch, point] = process.argv.slice(2)
  if (!dir || batch === undefined || !point) throw new Error('usage: crash-child.ts <dir> <batchId> <point>')
  await run(crashPipeline(dir, Number(batch), point as KillPoint), {
    checkpoint: join(dir, 'checkpoint'),
    trigger: { kind: 'availableNow' },
    maxBatchRecords: 150,
  })
}
