import { join } from 'node:path'
import { createInterface } from 'node:readline/promises'
import { applyReset, describeReset, describeWhatStays, nothingToReset, planReset } from '../app/reset.ts'
import type { SinkDatabase } from '../app/reset-sink-rows.ts'
import { UsageError } from '../errors.ts'
import { localKafkaStatus } from '../local-kafka/cluster.ts'
import type { ResetFlags } from './reset-command.ts'

/** `sluice reset PIPELINE`: lists what goes, asks (unless --yes), deletes. */
export async function resetPipeline(pipelineId: string, flags: ResetFlags): Promise<void> {
  const database = await sinkDatabase(flags)
  try {
    await reset(pipelineId, flags, { brokers: await brokersFor(flags) }, database)
  } finally {
    await database?.close()
  }
}

async function reset(
  pipelineId: string,
  flags: ResetFlags,
  connection: { brokers: string },
  database: SinkDatabase | undefined,
): Promise<void> {
  const plan = await planReset({
    pipelineId,
    checkpoint: flags.checkpoint ?? join(flags.dataDir, 'checkpoints', pipelineId),
    connection,
    ...(flags.group === undefined ? {} : { group: flags.group }),
    ...(database === undefined ? {} : { database }),
  })
  const stays = describeWhatStays(plan)
  if (nothingToReset(plan)) {
    const where = database ? `, changelog topic or row in ${database.display}` : ' or changelog topic'
    process.stdout.write(
      `Nothing to reset for pipeline "${pipelineId}" (no checkpoint, group${where}).\n${stays.join('\n')}\n`,
    )
    return
  }
  const lines = describeReset(plan)
  if (flags.dryRun) {
    process.stdout.write(
      `sluice reset ${pipelineId} would delete:\n${lines.join('\n')}\n${stays.join('\n')}\n`,
    )
    return
  }
  if (!flags.yes) {
    if (!process.stdin.isTTY)
      throw new UsageError(
        `sluice reset ${pipelineId} asks before deleting, and stdin is not a terminal: pass --yes to reset without asking (--dry-run lists what would go).`,
      )
    process.stdout.write(
      `sluice reset ${pipelineId} will delete:\n${lines.join('\n')}\n${stays.join('\n')}\n`,
    )
    if (!(await confirmed('Delete these? [y/N] '))) {
      process.stdout.write('Nothing deleted.\n')
      return
    }
  }
  await applyReset(plan, connection, database)
  const next = database
    ? `its next run starts from its source's starting offsets.\n${stays.join('\n')}`
    : stays.join('\n')
  process.stdout.write(`Reset pipeline "${pipelineId}": deleted ${lines.length} item(s); ${next}\n`)
}

/** --postgres or --mysql (a URL, or the flag alone for the sink's own default), loaded when given. */
async function sinkDatabase(flags: ResetFlags): Promise<SinkDatabase | undefined> {
  if (flags.postgres !== undefined && flags.mysql !== undefined)
    throw new UsageError(
      "--postgres and --mysql name two databases: give the one the pipeline's sink writes to.",
    )
  if (flags.offsetsTable !== undefined && flags.postgres === undefined && flags.mysql === undefined)
    throw new UsageError(
      '--offsets-table names a table of the sink database: give --postgres or --mysql with it.',
    )
  if (flags.postgres !== undefined) {
    const url = databaseUrl(
      flags.postgres,
      'DATABASE_URL',
      '--postgres',
      'postgres://user:password@host:5432/db',
    )
    const { postgresSinkDatabase } = await import('../app/reset-postgres.ts')
    return postgresSinkDatabase(url, flags.offsetsTable)
  }
  if (flags.mysql !== undefined) {
    const url = databaseUrl(flags.mysql, 'MYSQL_URL', '--mysql', 'mysql://user:password@host:3306/db')
    const { mysqlSinkDatabase } = await import('../app/reset-mysql.ts')
    return mysqlSinkDatabase(url, flags.offsetsTable)
  }
  return undefined
}

function databaseUrl(flag: string | true, variable: string, name: string, example: string): string {
  const url = flag === true ? process.env[variable] : flag
  if (!url)
    throw new UsageError(
      `${name} without a URL reads $${variable}, which is not set: pass ${name} ${example}.`,
    )
  return url
}

async function confirmed(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stdout })
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim())
  } finally {
    rl.close()
  }
}

/** --brokers, $KAFKA_BROKERS, or the local broker `sluice start` runs in the data folder. */
async function brokersFor(flags: ResetFlags): Promise<string> {
  const given = flags.brokers ?? process.env.KAFKA_BROKERS
  if (given) return given
  const local = await localKafkaStatus({ dataDir: join(flags.dataDir, 'kafka') })
  if (local.bootstrap && local.nodes.some((n) => n.running)) return local.bootstrap
  throw new UsageError(
    `No broker to reset on: pass --brokers (or set KAFKA_BROKERS), or start the local one (npx sluice kafka start --data-dir ${join(flags.dataDir, 'kafka')}).`,
  )
}
