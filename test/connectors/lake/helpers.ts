import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative, sep } from 'node:path'
import { after } from 'node:test'
import type { LogEntry } from '../../../src/connectors/lake/log.ts'
import { lakeTable } from '../../../src/connectors/lake/source.ts'
import { memory } from '../../../src/connectors/testing/memory.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { run } from '../../../src/runtime/run.ts'
import type { SinkSpec, SinkWriter } from '../../../src/runtime/sink.ts'
import type { Row } from './data.ts'

const dirs: string[] = []
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-lake-'))
  dirs.push(dir)
  return dir
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

export { clickstream, type Row } from './data.ts'

/** A stable text for a row (bigints and Dates included), to compare rows as multisets. */
export function canonical(row: unknown): string {
  return JSON.stringify(row, (_key, value: unknown) => {
    if (typeof value === 'bigint') return `${value}n`
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const sorted: Record<string, unknown> = {}
      for (const key of Object.keys(value).sort()) sorted[key] = (value as Row)[key]
      return sorted
    }
    return value
  })
}

export function sortRows<T>(rows: readonly T[]): T[] {
  return [...rows].sort((a, b) => {
    const x = canonical(a)
    const y = canonical(b)
    return x < y ? -1 : x > y ? 1 : 0
  })
}

/** Reads a whole lake table through lakeTable() in a batch run. */
export async function readTable(path: string): Promise<Row[]> {
  const out = memory<Row>()
  const checkpoint = await tempDir()
  await run(pipeline('lake-reader').from(lakeTable<Row>({ path })).to(out), {
    checkpoint,
    trigger: { kind: 'availableNow' },
  })
  return [...out.rows]
}

/** Every file below `root`, relative, "/"-separated. */
export async function listAll(root: string): Promise<string[]> {
  try {
    const entries = await readdir(root, { recursive: true, withFileTypes: true })
    return entries
      .filter((e) => e.isFile())
      .map((e) => relative(root, join(e.parentPath, e.name)).split(sep).join('/'))
      .sort()
  } catch {
    return []
  }
}

/** The data files the table folder shows (not the log, not staging). */
export async function visibleDataFiles(root: string): Promise<string[]> {
  return (await listAll(root)).filter(
    (f) => !f.startsWith('_sluice_log/') && !f.startsWith('.sluice-staging/'),
  )
}

export async function logEntries(root: string): Promise<LogEntry[]> {
  const files = (await listAll(join(root, '_sluice_log'))).filter((f) => /^\d{20}\.json$/.test(f))
  return Promise.all(
    files.map(async (f) => JSON.parse(await readFile(join(root, '_sluice_log', f), 'utf8')) as LogEntry),
  )
}

/**
 * A sink that dies at the commit of batch `batchId`: it throws and skips the abort a live process would run
 * (and, with `close: false`, the close too, so nothing pending is rolled on the way out).
 */
export function dyingAt<T>(
  spec: SinkSpec<T>,
  batchId: number,
  options: { close?: boolean } = {},
): SinkSpec<T> {
  return {
    ...spec,
    create: (): SinkWriter<T> => {
      const inner = spec.create()
      return {
        description: inner.description,
        open: (context) => inner.open(context),
        write: (batch) => inner.write(batch),
        commit: async (batch, context) => {
          if (batch.batchId === batchId) throw new Error(`died before committing batch ${batchId}`)
          await inner.commit(batch, context)
        },
        abort: async () => {},
        hasCommitted: (batch) => inner.hasCommitted?.(batch) ?? Promise.resolve(false),
        close: options.close === false ? async () => {} : () => inner.close(),
      }
    },
  }
}

/** A sink whose process dies right after its commit of batch `batchId`: the checkpoint never hears of it. */
export function dyingAfterCommit<T>(spec: SinkSpec<T>, batchId: number): SinkSpec<T> {
  return {
    ...spec,
    create: (): SinkWriter<T> => {
      const inner = spec.create()
      return {
        ...inner,
        description: inner.description,
        open: (context) => inner.open(context),
        write: (batch) => inner.write(batch),
        commit: async (batch, context) => {
          await inner.commit(batch, context)
          if (batch.batchId === batchId) throw new Error(`died after committing batch ${batchId}`)
        },
        abort: async () => {},
        hasCommitted: (batch) => inner.hasCommitted?.(batch) ?? Promise.resolve(false),
        committedPosition: () => inner.committedPosition?.() ?? Promise.resolve(undefined),
        rejected: (batch) => inner.rejected?.(batch) ?? [],
        close: () => inner.close(),
      }
    },
  }
}
