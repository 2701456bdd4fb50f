import { Command } from 'commander'
import { positiveInt } from './options.ts'

interface CompactFlags {
  dataDir: string
  catalog?: string
  targetFileSize: number
}

/** `sluice lake compact TABLE`: maintenance of the Iceberg tables lake({ format: 'iceberg' }) writes. */
export function lakeCommand(): Command {
  const lake = new Command('lake').description('maintain Iceberg lake tables')
  lake
    .command('compact')
    .description(
      "rewrite each partition's small data files into files of about --target-file-size, as one replace snapshot (safe beside a running writer)",
    )
    .argument(
      '<table>',
      'the table as namespace.name, e.g. sluice.events (the main job writes sluice.events)',
    )
    .option('--data-dir <dir>', 'the data folder of `sluice start --lake-format iceberg`', 'data')
    .option('--catalog <file>', 'the SQLite SQL catalog (default <data-dir>/lake/iceberg/catalog.db)')
    .option(
      '--target-file-size <bytes>',
      'size of the files written; files under 3/4 of it are rewritten',
      positiveInt,
      128 * 1024 * 1024,
    )
    .action(async (table: string, flags: CompactFlags) => {
      const [{ compactIcebergTable }, { icebergCatalog }] = await Promise.all([
        import('../connectors/lake/iceberg/compact.ts'),
        import('../app/demo-pipelines.ts'),
      ])
      const catalog = flags.catalog ?? icebergCatalog(flags.dataDir)
      const result = await compactIcebergTable({
        catalog: { sqlite: catalog, table },
        targetFileBytes: flags.targetFileSize,
      })
      process.stdout.write(
        result.snapshotId === undefined
          ? `${table}: nothing to compact (no partition has two files under 3/4 of ${flags.targetFileSize} bytes).\n`
          : `${table}: ${result.rewrittenFiles} files (${result.rows} rows) rewritten as ${result.addedFiles} in snapshot ${result.snapshotId}${result.attempts > 1 ? ` (${result.attempts} attempts: writers committed meanwhile)` : ''}.\n`,
      )
    })
  return lake
}
