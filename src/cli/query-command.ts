import { existsSync } from 'node:fs'
import { Command } from 'commander'
import type { Warehouse } from '../app/warehouse.ts'
import { UsageError } from '../errors.ts'
import { lakeFormat } from './options.ts'

interface QueryFlags {
  dataDir: string
  duckdb?: string
  postgres?: string
  json?: boolean
  lakeFormat?: 'parquet' | 'iceberg'
}

export function queryCommand(): Command {
  return new Command('query')
    .description(
      "query the main job's results: warehouse tables page_metrics and sessions, and (DuckDB) the lake as the view events",
    )
    .argument(
      '<sql>',
      'e.g. "SELECT page, sum(views) FROM page_metrics GROUP BY page ORDER BY 2 DESC LIMIT 10"',
    )
    .option('--data-dir <dir>', 'the data folder of `sluice start`', 'data')
    .option('--duckdb <file>', 'query this DuckDB warehouse file (default <data-dir>/warehouse.duckdb)')
    .option('--postgres <url>', 'query this PostgreSQL warehouse (default $DATABASE_URL)')
    .option('--json', 'one JSON object per row')
    .option(
      '--lake-format <format>',
      'read the lake written by `sluice start --lake-format`: "parquet" or "iceberg" (default: iceberg when <data-dir>/lake/iceberg/catalog.db exists)',
      lakeFormat,
    )
    .action(async (sql: string, flags: QueryFlags) => {
      const [{ defaultOutputs, icebergCatalog }, { formatTable, queryResults }] = await Promise.all([
        import('../app/demo-pipelines.ts'),
        import('../app/query.ts'),
      ])
      if (flags.duckdb !== undefined && flags.postgres !== undefined)
        throw new UsageError('--duckdb and --postgres name two warehouses: give one.')
      const outputs = defaultOutputs(
        flags.dataDir,
        { brokers: '' },
        {
          databaseUrl: flags.duckdb === undefined ? (flags.postgres ?? process.env.DATABASE_URL) : undefined,
          lakeFormat: flags.lakeFormat ?? (existsSync(icebergCatalog(flags.dataDir)) ? 'iceberg' : 'parquet'),
        },
      )
      const warehouse: Warehouse =
        flags.duckdb === undefined ? outputs.warehouse : { kind: 'duckdb', path: flags.duckdb }
      const rows = await queryResults(warehouse, sql, { lake: outputs })
      if (flags.json) {
        for (const row of rows)
          process.stdout.write(`${JSON.stringify(row, (_k, v) => (typeof v === 'bigint' ? Number(v) : v))}\n`)
      } else {
        process.stdout.write(formatTable(rows))
      }
    })
}
