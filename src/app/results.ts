import { existsSync } from 'node:fs'
import { DuckDBInstance } from '@duckdb/node-api'
import pg from 'pg'
import { LAKE_PARTITION, LakeTableReader } from '../connectors/lake/source.ts'
import type { Warehouse } from './warehouse.ts'

/** Rows committed to a lake table (by its commit log); 0 when the table has no commit yet. */
export async function lakeRows(path: string): Promise<number> {
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
  const out: Record<string, number> = {}
  if (warehouse.kind === 'duckdb') {
    if (!existsSync(warehouse.path)) return Object.fromEntries(tables.map((t) => [t, 0]))
    const instance = await DuckDBInstance.create(warehouse.path, { access_mode: 'READ_ONLY' })
    const connection = await instance.connect()
    try {
      for (const table of tables) out[table] = await duckdbCount(connection, table)
    } finally {
      connection.closeSync()
      instance.closeSync()
    }
    return out
  }
  const client = new pg.Client({ connectionString: warehouse.url })
  await client.connect()
  try {
    for (const table of tables) {
      const exists = await client.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [
        `"${table.replaceAll('"', '""')}"`,
      ])
      if (!exists.rows[0]?.t) out[table] = 0
      else {
        const r = await client.query<{ n: string }>(
          `SELECT count(*) AS n FROM "${table.replaceAll('"', '""')}"`,
        )
        out[table] = Number(r.rows[0]?.n ?? 0)
      }
    }
  } finally {
    await client.end()
  }
  return out
}

async function duckdbCount(
  connection: Awaited<ReturnType<DuckDBInstance['connect']>>,
  table: string,
): Promise<number> {
  const exists = await connection.runAndReadAll(
    "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'main' AND table_name = $1",
    [table],
  )
  if (Number(exists.getRowObjectsJS()[0]?.n ?? 0) === 0) return 0
  const reader = await connection.runAndReadAll(`SELECT count(*) AS n FROM "${table.replaceAll('"', '""')}"`)
  return Number(reader.getRowObjectsJS()[0]?.n ?? 0)
}
