import { existsSync } from 'node:fs'
import { currentSnapshot } from '../connectors/lake/iceberg/metadata.ts'
import { openTable } from '../connectors/lake/iceberg/open-table.ts'
import { LAKE_PARTITION, LakeTableReader } from '../connectors/lake/source.ts'
import { SluiceError } from '../errors.ts'
import type { DemoOutputs } from './demo-pipelines.ts'
import { queryResults } from './query.ts'
import type { Warehouse } from './warehouse.ts'

/** Rows committed to the main job's lake (by its commit log or Iceberg snapshot); 0 before the first commit. */
export async function lakeRows(outputs: Pick<DemoOutputs, 'lake' | 'lakePath'>): Promise<number> {
  const { lake, lakePath: path } = outputs
  if (lake.format === 'iceberg') {
    if (!existsSync(lake.catalog) || !existsSync(path)) return 0
    const table = await openTable({ sqlite: lake.catalog, table: lake.table }).catch((error: unknown) => {
      if (error instanceof SluiceError && error.code === 'SLUICE_ICEBERG_NO_TABLE') return undefined
      throw error
    })
    if (!table) return 0
    table.catalog.close()
    return Number(currentSnapshot(table.metadata)?.summary['total-records'] ?? 0)
  }
  if (!existsSync(path)) return 0
  const reader = new LakeTableReader({ path })
  try {
    await reader.open(undefined)
    return (await reader.endPositions())[LAKE_PARTITION] ?? 0
  } finally {
    await reader.close()
  }
}

/**
 * Row counts of warehouse tables; a table not created yet counts 0. Reads DuckDB only when no pipeline holds
 * the file (DuckDB lets one process open a database file for writing).
 */
export async function warehouseRows(
  warehouse: Warehouse,
  tables: readonly string[],
): Promise<Record<string, number>> {
  const out: Record<string, number> = Object.fromEntries(tables.map((t) => [t, 0]))
  if (warehouse.kind === 'duckdb' && !existsSync(warehouse.path)) return out
  // The table names are the job's own constants, not input: quoting them is enough.
  const list = tables.map((t) => `'${t.replaceAll("'", "''")}'`).join(', ')
  const existing = await queryResults(
    warehouse,
    `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name IN (${list})`,
  )
  if (existing.length === 0) return out
  const counts = existing
    .map(({ table_name }) => String(table_name).replaceAll('"', '""'))
    .map((t) => `(SELECT count(*) FROM "${t}") AS "${t}"`)
  const [row] = await queryResults(warehouse, `SELECT ${counts.join(', ')}`)
  for (const [table, n] of Object.entries(row ?? {})) out[table] = Number(n)
  return out
}
