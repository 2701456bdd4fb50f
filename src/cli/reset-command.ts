import { Command } from 'commander'

/** The flags of `sluice reset`; the command runs in reset-action.ts, loaded when it runs. */
export interface ResetFlags {
  dataDir: string
  checkpoint?: string
  brokers?: string
  group?: string
  /** The sink's PostgreSQL database; true: the flag without a URL ($DATABASE_URL). */
  postgres?: string | true
  /** The sink's MariaDB/MySQL database; true: the flag without a URL ($MYSQL_URL). */
  mysql?: string | true
  offsetsTable?: string
  yes?: boolean
  dryRun?: boolean
}

export function resetCommand(): Command {
  return new Command('reset')
    .description(
      "start a pipeline over: delete its checkpoint, its consumer group's offsets, its changelog topics and, with --postgres/--mysql, its positions and state in its sink's database (never its input, output or dead-letter topics or tables)",
    )
    .argument('<pipeline>', 'the pipeline id (as `sluice run --dry-run` or the status lines show it)')
    .option(
      '--data-dir <dir>',
      'the data folder: checkpoints in <dir>/checkpoints, a local broker in <dir>/kafka',
      'data',
    )
    .option(
      '--checkpoint <dir>',
      "the pipeline's checkpoint directory (default <data-dir>/checkpoints/<pipeline>)",
    )
    .option('--brokers <list>', 'Kafka brokers (default $KAFKA_BROKERS, else the local broker of --data-dir)')
    .option('--group <id>', "the source's consumer group (default sluice-<pipeline>)")
    .option(
      '--postgres [url]',
      "also delete the pipeline's positions and state in its PostgreSQL sink's database (default $DATABASE_URL)",
    )
    .option(
      '--mysql [url]',
      "also delete the pipeline's positions in its MariaDB/MySQL sink's database (default $MYSQL_URL)",
    )
    .option(
      '--offsets-table <name>',
      "the sink's offsetsTable, schema-qualified when its table is (default sluice_offsets)",
    )
    .option('--dry-run', 'list what would be deleted and delete nothing')
    .option('--yes', 'do not ask for confirmation (needed when stdin is not a terminal)')
    .action(async (pipelineId: string, flags: ResetFlags) => {
      const { resetPipeline } = await import('./reset-action.ts')
      await resetPipeline(pipelineId, flags)
    })
}
