import { readFile } from 'node:fs/promises'
import type { Table } from '../../dsl/stream.ts'
import { UsageError } from '../../errors.ts'
import type { LookupTable } from '../../plan/nodes.ts'

function indexRows<R>(rows: Iterable<R>, key: (row: R) => string | number): LookupTable {
  const map = new Map<string, R>()
  for (const row of rows) map.set(String(key(row)), row)
  return { get: (k) => map.get(k), size: map.size }
}

/** A table from rows in memory, keyed by `key` (the last row of a key wins). */
export function staticTable<R>(name: string, rows: readonly R[], key: (row: R) => string | number): Table<R> {
  return {
    spec: { type: 'static', options: { name, rows: rows.length }, load: async () => indexRows(rows, key) },
  }
}

/** A table loaded once from a JSON Lines file, keyed by a field. */
export function jsonlTable<R>(path: string, key: keyof R & string): Table<R> {
  return {
    spec: {
      type: 'jsonl-file',
      options: { path, key },
      load: async () => {
        let text: string
        try {
          text = await readFile(path, 'utf8')
        } catch (error) {
          throw new UsageError(`Cannot read the join table ${path}: ${(error as Error).message}`, error)
        }
        const rows: R[] = []
        for (const [i, line] of text.split('\n').entries()) {
          if (!line.trim()) continue
          try {
            rows.push(JSON.parse(line) as R)
          } catch {
            throw new UsageError(`Join table ${path} line ${i + 1} is not valid JSON.`)
          }
        }
        return indexRows(rows, (row) => {
          const value = row[key]
          if (typeof value !== 'string' && typeof value !== 'number') {
            throw new UsageError(`Join table ${path}: a row has no "${key}" key field.`)
          }
          return value
        })
      },
    },
  }
}
