import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after } from 'node:test'
import { type MemorySink, memory } from '../../../src/connectors/testing/memory.ts'
import type { SinkSpec, SinkWriter } from '../../../src/runtime/sink.ts'
import type { PollOptions, SourceReader, SourceRecord } from '../../../src/runtime/source.ts'

const dirs: string[] = []
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

export async function tempDir(prefix = 'sluice-files-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  dirs.push(dir)
  return dir
}

/** File content made of lines, with each line's byte offset. */
export function fileOf(
  lines: readonly (string | Buffer)[],
  eol = '\n',
): { content: Buffer; offsets: number[] } {
  const parts: Buffer[] = []
  const offsets: number[] = []
  let at = 0
  for (const line of lines) {
    const bytes = Buffer.concat([typeof line === 'string' ? Buffer.from(line) : line, Buffer.from(eol)])
    offsets.push(at)
    parts.push(bytes)
    at += bytes.length
  }
  return { content: Buffer.concat(parts), offsets }
}

export const context = { pipelineId: 'test', now: () => Date.now() }

export function pollOptions(overrides: Partial<PollOptions> = {}): PollOptions {
  return { maxRecords: 1000, maxBytes: 64 * 1024 * 1024, lingerMs: 0, idleMs: 0, ...overrides }
}

/** Everything a reader yields, polling until a poll comes back empty. */
export async function drain(
  reader: SourceReader,
  overrides: Partial<PollOptions> = {},
): Promise<SourceRecord[]> {
  const out: SourceRecord[] = []
  for (;;) {
    const records = await reader.poll(pollOptions(overrides))
    if (records.length === 0) return out
    out.push(...records)
  }
}

/**
 * A memory sink whose commit fails once for one batch id, before the batch becomes visible: the run throws
 * and the next run replays the batch from the checkpoint (exactly its logged range).
 */
export function failingOnce<T>(failBatch: number): {
  sink: SinkSpec<T>
  memory: MemorySink<T>
  readonly failed: boolean
} {
  const inner = memory<T>()
  let failed = false
  const sink: SinkSpec<T> = {
    type: 'memory',
    options: {},
    create: (): SinkWriter<T> => {
      const writer = inner.create()
      return {
        ...writer,
        async commit(batch, context) {
          if (batch.batchId === failBatch && !failed) {
            failed = true
            throw new Error(`injected failure committing batch ${failBatch}`)
          }
          await writer.commit(batch, context)
        },
      }
    },
  }
  return {
    sink,
    memory: inner,
    get failed() {
      return failed
    },
  }
}

export { waitFor } from '../../helpers/wait.ts'
