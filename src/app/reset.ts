import { existsSync } from 'node:fs'
import { readdir, rm } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { CheckpointLock } from '../checkpoint/checkpoint-lock.ts'
import { KafkaAdmin } from '../connectors/kafka/admin.ts'
import type { KafkaConnection } from '../connectors/kafka/connection.ts'
import { SluiceError } from '../errors.ts'

/** What `sluice reset` deletes so that a pipeline starts over from the beginning of its input. */
export interface ResetPlan {
  readonly pipelineId: string
  /** The checkpoint directory and those of the pipeline's instances ("<dir>@<instance>") that exist. */
  readonly checkpoints: readonly string[]
  /** The consumer group, when the cluster knows it: its committed offsets go with it. */
  readonly group: string | undefined
  /** The pipeline's changelog topics (`<pipeline>-<operator>-changelog`). */
  readonly topics: readonly string[]
}

export interface ResetOptions {
  readonly pipelineId: string
  /** The pipeline's checkpoint directory (run's --checkpoint; default data/checkpoints/<pipeline>). */
  readonly checkpoint: string
  readonly connection: KafkaConnection
  /** The source's consumer group; default `sluice-<pipeline>`, the Kafka source's own. */
  readonly group?: string
}

/**
 * Finds what belongs to the pipeline, and refuses while its consumer group has members: a running
 * pipeline would commit again what was deleted. Input, output and dead-letter topics are the user's and
 * stay; only the changelog topics the runtime created for the pipeline's state go.
 */
export async function planReset(options: ResetOptions): Promise<ResetPlan> {
  const groupId = options.group ?? `sluice-${options.pipelineId}`
  const admin = new KafkaAdmin(options.connection)
  try {
    const [groups, topics] = await Promise.all([admin.listGroups(), admin.listTopics()])
    const described = await admin.describeGroup(groupId)
    if (described.members.length > 0) {
      const who = described.members.map((m) => m.groupInstanceId ?? m.clientHost).join(', ')
      throw new SluiceError(
        'SLUICE_RESET_PIPELINE_RUNNING',
        `Pipeline "${options.pipelineId}" is running: its consumer group ${groupId} has ${described.members.length} active member(s) (${who}). Stop every instance first, then reset.`,
        { domain: 'user', exitCode: 1 },
      )
    }
    return {
      pipelineId: options.pipelineId,
      checkpoints: await checkpointDirs(options.checkpoint),
      group: groups.includes(groupId) ? groupId : undefined,
      topics: changelogTopics(options.pipelineId, topics).sort(),
    }
  } finally {
    await admin.close()
  }
}

/**
 * The topics named like the pipeline's changelogs, as Kafka Streams' reset tool finds its internal topics:
 * by the pipeline id's prefix and the suffix.
 */
function changelogTopics(pipelineId: string, topics: readonly string[]): string[] {
  return topics.filter((t) => t.startsWith(`${pipelineId}-`) && t.endsWith('-changelog'))
}

/** The checkpoint directory and its instances' siblings ("<dir>@<instance>") that exist. */
async function checkpointDirs(checkpoint: string): Promise<string[]> {
  const dir = resolve(checkpoint)
  const parent = dirname(dir)
  if (!existsSync(parent)) return []
  const name = basename(dir)
  const entries = await readdir(parent, { withFileTypes: true })
  return entries
    .filter((e) => e.isDirectory() && (e.name === name || e.name.startsWith(`${name}@`)))
    .map((e) => join(parent, e.name))
    .sort()
}

/** True when the plan finds nothing to delete. */
export function nothingToReset(plan: ResetPlan): boolean {
  return plan.checkpoints.length === 0 && plan.group === undefined && plan.topics.length === 0
}

/** The plan as lines, for the prompt and --dry-run. */
export function describeReset(plan: ResetPlan): string[] {
  return [
    ...plan.checkpoints.map((dir) => `  checkpoint      ${dir}`),
    ...(plan.group ? [`  consumer group  ${plan.group} (and its committed offsets)`] : []),
    ...plan.topics.map((topic) => `  topic           ${topic}`),
  ]
}

/**
 * Deletes what the plan lists: the group first (the broker refuses while it has members, so a pipeline
 * started since the plan stops the reset before anything else goes), then the changelog topics, then each
 * checkpoint while holding its lock (CheckpointInUseError when a run has it open).
 */
export async function applyReset(plan: ResetPlan, connection: KafkaConnection): Promise<void> {
  const admin = new KafkaAdmin(connection)
  try {
    if (plan.group) await admin.deleteGroup(plan.group)
    if (plan.topics.length > 0) await admin.deleteTopics(plan.topics)
  } finally {
    await admin.close()
  }
  for (const dir of plan.checkpoints) {
    const lock = existsSync(join(dir, 'lock.db'))
      ? CheckpointLock.acquire(join(dir, 'lock.db'), dir)
      : undefined
    try {
      await rm(dir, { recursive: true, force: true })
    } finally {
      lock?.release()
    }
  }
}
