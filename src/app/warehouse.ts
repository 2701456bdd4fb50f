import { duckdb } from '../connectors/duckdb/sink.ts'
import { postgres } from '../connectors/postgres/sink.ts'
import type { SinkSpec } from '../runtime/sink.ts'

/** The main job's warehouse: DuckDB in the data folder by default, PostgreSQL when DATABASE_URL is set. */
export type Warehouse =
  | { readonly kind: 'duckdb'; readonly path: string }
  | { readonly kind: 'postgres'; readonly url: string }

export interface WarehouseTableOptions<T> {
  readonly mode: 'append' | 'upsert'
  readonly key?: readonly (keyof T & string)[]
}

/** A sink into one warehouse table, created from the rows when missing; dead letters in sluice_dead_letters. */
export function warehouseSink<T>(
  warehouse: Warehouse,
  table: string,
  options: WarehouseTableOptions<T>,
): SinkSpec<T> {
  const key = options.key ? { key: options.key } : {}
  return warehouse.kind === 'duckdb'
    ? duckdb<T>({ path: warehouse.path, table, mode: options.mode, ...key, createTable: true })
    : postgres<T>({ url: warehouse.url, table, mode: options.mode, ...key, createTable: true })
}

export function describeWarehouse(warehouse: Warehouse): string {
  return warehouse.kind === 'duckdb' ? `DuckDB ${warehouse.path}` : `PostgreSQL ${redactUrl(warehouse.url)}`
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return 'postgres (DATABASE_URL)'
  }
}
