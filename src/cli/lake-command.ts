import { Command } from 'commander'
import { parseDurationOrZero, positiveInt } from './options.ts'

interface TableFlags {
  dataDir: string
  catalog?: string
}

interface CompactFlags extends TableFlags {
  targetFileSize: number
}

interface ExpireFlags extends TableFlags {
  olderThan: number
  retainLast: number
}

/** `sluice lake compact|expire TABLE`: maintenance of the Iceberg tables lake({ format: 'iceberg' }) writes. */
export function lakeCommand(): Command {
  const lake = new Command('lake').description('maintain Iceberg lake tables')
  tableCommand(lake, 'compact')
    .description(
      "rewrite each partition's small data files into files of about --target-file-size, as one replace snapshot (safe beside a running writer)",
    )
    .option(
      '--target-file-size <bytes>',
      'size of the files written; files under 3/4 of it are rewritten',
      positiveInt,
      128 * 1024 * 1024,
    )
    .action(async (table: string, flags: CompactFlags) => {
      const { compactIcebergTable } = await import('../connectors/lake/iceberg/compact.ts')
      const result = await compactIcebergTable({
        catalog: { sqlite: await catalogFile(flags), table },
        targetFileBytes: flags.targetFileSize,
      })
      process.stdout.write(
        result.snapshotId === undefined
          ? `${table}: nothing to compact (no partition has two files under 3/4 of ${flags.targetFileSize} bytes).\n`
          : `${table}: ${result.rewrittenFiles} files (${result.rows} rows) rewritten as ${result.addedFiles} in snapshot ${result.snapshotId}${result.attempts > 1 ? ` (${result.attempts} attempts: writers committed meanwhile)` : ''}.\n`,
      )
    })
  tableCommand(lake, 'expire')
    .description(
      'remove snapshots older than --older-than (never the current one nor the --retain-last latest), then delete the files no remaining snapshot references (safe beside a running writer)',
    )
    .requiredOption(
      '--older-than <duration>',
      'expire snapshots committed longer ago than this: 30m, 1h, 168h (a week); 0 for all but the retained ones',
      parseDurationOrZero,
    )
    .option(
      '--retain-last <n>',
      'keep the current snapshot and its latest ancestors, this many',
      positiveInt,
      1,
    )
    .action(async (table: string, flags: ExpireFlags) => {
      const { expireIcebergSnapshots } = await import('../connectors/lake/iceberg/expire.ts')
      const result = await expireIcebergSnapshots({
        catalog: { sqlite: await catalogFile(flags), table },
        olderThanMs: flags.olderThan,
        retainLast: flags.retainLast,
      })
      const { dataFiles, manifests, manifestLists, metadataFiles } = result.deleted
      process.stdout.write(
        result.attempts === 0
          ? `${table}: nothing to expire (${result.keptSnapshots} snapshots).\n`
          : `${table}: ${result.expiredSnapshots} snapshots expired, ${result.keptSnapshots} kept; deleted ${dataFiles} data files, ${manifests} manifests, ${manifestLists} manifest lists, ${metadataFiles} metadata files${result.attempts > 1 ? ` (${result.attempts} attempts: writers committed meanwhile)` : ''}.\n`,
      )
    })
  return lake
}

function tableCommand(lake: Command, name: string): Command {
  return lake
    .command(name)
    .argument(
      '<table>',
      'the table as namespace.name, e.g. sluice.events (the main job writes sluice.events)',
    )
    .option('--data-dir <dir>', 'the data folder of `sluice start --lake-format iceberg`', 'data')
    .option('--catalog <file>', 'the SQLite SQL catalog (default <data-dir>/lake/iceberg/catalog.db)')
}

async function catalogFile(flags: TableFlags): Promise<string> {
  if (flags.catalog) return flags.catalog
  const { icebergCatalog } = await import('../app/demo-pipelines.ts')
  return icebergCatalog(flags.dataDir)
}
