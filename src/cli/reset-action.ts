import { join } from 'node:path'
import { createInterface } from 'node:readline/promises'
import { applyReset, describeReset, nothingToReset, planReset } from '../app/reset.ts'
import { UsageError } from '../errors.ts'
import { localKafkaStatus } from '../local-kafka/cluster.ts'
import type { ResetFlags } from './reset-command.ts'

/** `sluice reset PIPELINE`: lists what goes, asks (unless --yes), deletes. */
export async function resetPipeline(pipelineId: string, flags: ResetFlags): Promise<void> {
  const connection = { brokers: await brokersFor(flags) }
  const plan = await planReset({
    pipelineId,
    checkpoint: flags.checkpoint ?? join(flags.dataDir, 'checkpoints', pipelineId),
    connection,
    ...(flags.group === undefined ? {} : { group: flags.group }),
  })
  if (nothingToReset(plan)) {
    process.stdout.write(
      `Nothing to reset for pipeline "${pipelineId}" (no checkpoint, group or changelog topic).\n`,
    )
    return
  }
  const lines = describeReset(plan)
  if (flags.dryRun) {
    process.stdout.write(`sluice reset ${pipelineId} would delete:\n${lines.join('\n')}\n`)
    return
  }
  if (!flags.yes) {
    if (!process.stdin.isTTY)
      throw new UsageError(
        `sluice reset ${pipelineId} asks before deleting, and stdin is not a terminal: pass --yes to reset without asking (--dry-run lists what would go).`,
      )
    process.stdout.write(`sluice reset ${pipelineId} will delete:\n${lines.join('\n')}\n`)
    if (!(await confirmed('Delete these? [y/N] '))) {
      process.stdout.write('Nothing deleted.\n')
      return
    }
  }
  await applyReset(plan, connection)
  process.stdout.write(
    `Reset pipeline "${pipelineId}": deleted ${lines.length} item(s); its next run starts from its source's starting offsets.\n`,
  )
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
