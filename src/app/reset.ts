import { existsSync } from 'node:fs'
import { readdir, rm } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { CheckpointLock } from '../checkpoint/checkpoint-lock.ts'
import { KafkaAdmin } from '../connectors/kafka/admin.ts'
import type { KafkaConnection } from '../connectors/kafka/connection.ts'
import { SluiceError } from '../errors.ts'
import { ownChangelogs, type PipelineRows, type SinkDatabase } from './reset-sink-rows.ts'

/** What `sluice reset` deletes so that a pipeline starts over from the beginning of its input. */
export interface ResetPlan {
  readonly pipelineId: string
  /** The checkpoint directory and those of the pipeline's instances ("<dir>@<instance>") that exist. */
  readonly checkpoints: readonly string[]
  /** The consumer group, when the cluster knows it: its committed offsets go with it. */
  readonly group: string | undefined
  /** The pipeline's changelog topics (`<pipeline>-<operator>-changelog`). */
  readonly topics: readonly string[]
  /** The sink's database, when reset was given one: its rows of the pipeline's positions and state. */
  readonly sink?: {
    readonly kind: SinkDatabase['kind']
    readonly display: string
    readonly rows: readonly PipelineRows[]
    /** Offsets tables not looked in that hold a row of the pipeline (see SinkRowsFound). */
    readonly elsewhere: readonly string[]
  }
}

export interface ResetOptions {
  readonly pipelineId: string
  /** The pipeline's checkpoint directory (run's --checkpoint; default data/checkpoints/<pipeline>). */
  readonly checkpoint: string
  readonly connection: KafkaConnection
  /** The source's consumer group; default `sluice-<pipeline>`, the Kafka source's own. */
  readonly group?: string
  /** The sink's database, where a SQL sink keeps the pipeline's positions (and a keyed one's state). */
  readonly database?: SinkDatabase
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
    const database = options.database
    const found = database ? await database.find(options.pipelineId) : undefined
    return {
      pipelineId: options.pipelineId,
      checkpoints: await checkpointDirs(options.checkpoint),
      group: groups.includes(groupId) ? groupId : undefined,
      // As Kafka Streams' reset tool finds its internal topics: by the pipeline id's prefix and the suffix,
      // less those of pipelines whose id extends this one's (known by their default groups).
      topics: ownChangelogs(options.pipelineId, topics, groups.map(pipelineOfGroup)),
      ...(database && found ? { sink: { kind: database.kind, display: database.display, ...found } } : {}),
    }
  } finally {
    await admin.close()
  }
}

/** The pipeline id of a default group (`sluice-<pipeline>`); other groups name no pipeline. */
function pipelineOfGroup(group: string): string {
  return group.startsWith('sluice-') ? group.slice('sluice-'.length) : ''
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
  return (
    plan.checkpoints.length === 0 &&
    plan.group === undefined &&
    plan.topics.length === 0 &&
    (plan.sink?.rows.length ?? 0) === 0
  )
}

/** The plan as lines, for the prompt and --dry-run. */
export function describeReset(plan: ResetPlan): string[] {
  return [
    ...plan.checkpoints.map((dir) => `  checkpoint      ${dir}`),
    ...(plan.group ? [`  consumer group  ${plan.group} (and its committed offsets)`] : []),
    ...plan.topics.map((topic) => `  topic           ${topic}`),
    ...(plan.sink?.rows ?? []).map(
      (r) =>
        `  ${plan.sink?.kind.padEnd(14)}  ${r.table}  ${r.rows} row${r.rows === 1 ? '' : 's'}${r.topic ? ` of ${r.topic}` : ''}`,
    ),
  ]
}

/**
 * What reset leaves, and so what the next run starts from. Without the sink's database reset cannot know
 * whether the sink keeps positions of its own, which a run resumes from before its source's starting
 * offsets: it says where they may be rather than promise a fresh start.
 */
export function describeWhatStays(plan: ResetPlan): string[] {
  const sink = plan.sink
  if (sink === undefined)
    return [
      "Its next run starts from its source's starting offsets only if its sink keeps no positions of its own; those stay, and the run resumes from them:",
      '  PostgreSQL, MariaDB/MySQL: its rows in sluice_offsets and sluice_offsets_partitions (and, for a keyed pipeline,',
      '    its state in sluice_changelog and sluice_changelog_ends): reset with --postgres URL or --mysql URL',
      '    (and --offsets-table when the sink names another) to delete them too;',
      `  DuckDB's sluice_offsets, Redis's sluice:positions:${plan.pipelineId}, MongoDB's sluice_positions, a lake table's log:`,
      "    delete the pipeline's entry there (or the output with it).",
    ]
  return [
    ...sink.elsewhere.map(
      (table) =>
        `${table} also holds positions of pipeline "${plan.pipelineId}" and is not reset: pass --offsets-table ${table} if its sink writes there.`,
    ),
    `The rows the pipeline wrote to its output and dead-letter tables in ${sink.display} stay: delete them yourself, or its next run writes them again.`,
  ]
}

/**
 * Deletes what the plan lists: the group first (the broker refuses while it has members, so a pipeline
 * started since the plan stops the reset before anything else goes), then the changelog topics, then the
 * sink database's rows (one transaction), then each checkpoint while holding its lock (CheckpointInUseError
 * when a run has it open).
 */
export async function applyReset(
  plan: ResetPlan,
  connection: KafkaConnection,
  database?: SinkDatabase,
): Promise<void> {
  const admin = new KafkaAdmin(connection)
  try {
    if (plan.group) await admin.deleteGroup(plan.group)
    if (plan.topics.length > 0) await admin.deleteTopics(plan.topics)
  } finally {
    await admin.close()
  }
  if (database && plan.sink && plan.sink.rows.length > 0)
    await database.delete(plan.pipelineId, plan.sink.rows)
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
