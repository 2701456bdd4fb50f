import { Command } from 'commander'

interface QueryFlags {
  dataDir: string
  json?: boolean
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
    .option('--json', 'one JSON object per row')
    .action(async (sql: string, flags: QueryFlags) => {
      const [{ defaultOutputs }, { formatTable, queryResults }] = await Promise.all([
        import('../app/demo-pipelines.ts'),
        import('../app/query.ts'),
      ])
      const outputs = defaultOutputs(
        flags.dataDir,
        { brokers: '' },
        { databaseUrl: process.env.DATABASE_URL },
      )
      const rows = await queryResults(outputs.warehouse, sql, { lakePath: outputs.lakePath })
      if (flags.json) {
        for (const row of rows)
          process.stdout.write(`${JSON.stringify(row, (_k, v) => (typeof v === 'bigint' ? Number(v) : v))}\n`)
      } else {
        process.stdout.write(formatTable(rows))
      }
    })
}
