/**
 * The group view: how the instances of a scaled-out pipeline share its input, as the broker sees it. The
 * instances are members of one consumer group; each member's assigned partitions are its tasks; per partition
 * the group's committed offset against the log end is the lag of the group as a whole, whoever owns it. A
 * source that reads through a consumer group offers it (SourceSpec.groupView); the dashboard and /metrics
 * refresh it every few seconds, beside the pipeline, never in its batches.
 */

/** A task's state as the instance running it reports it (src/runtime/task.ts). */
export type TaskStateView = 'created' | 'restoring' | 'running' | 'suspended' | 'closed'

export interface GroupMemberView {
  /** The member's name: its static membership name (the instance), else "member" and the end of its member id. */
  readonly instance: string
  readonly memberId: string
  /** The machine it runs on and its process, as its plan in the group says (null for a non-Sluice member). */
  readonly host: string
  readonly pid: number | null
  /** Its tasks: the partitions assigned to it ("topic:3"), in order; empty while the group rebalances. */
  readonly partitions: readonly string[]
  /**
   * The instance's own view of its tasks, for a stateful plan, when it reported one to this process (its own,
   * or a worker's to its supervisor): restoring or running per partition.
   */
  readonly tasks?: Readonly<Record<string, TaskStateView>>
}

export interface GroupPartitionView {
  /** "topic:3". */
  readonly partition: string
  /** The instance it is assigned to; null while nobody owns it (a rebalance, no member). */
  readonly owner: string | null
  /** The group's committed offset (next to read); null where the group never committed. */
  readonly committed: number | null
  /** The last stable offset (the end a read_committed consumer reads to). */
  readonly end: number
  /** Records still to read by the group: end − committed (from the log start where it never committed). */
  readonly lag: number
}

export interface GroupView {
  readonly groupId: string
  /** The group's state: 'Stable', 'PreparingRebalance', 'CompletingRebalance', 'Empty', 'Dead'. */
  readonly state: string
  /** ISO time of the refresh this view comes from. */
  readonly at: string
  readonly members: readonly GroupMemberView[]
  readonly partitions: readonly GroupPartitionView[]
  /** Why the latest refresh failed (the view is then the last one that did not), null when it did not. */
  readonly error: string | null
}

/** Reads a pipeline's group view from the broker; one call is a few admin requests, never per batch. */
export interface GroupViewReader {
  readonly groupId: string
  read(): Promise<GroupView>
  close(): Promise<void>
}

/** What an instance reports about its own tasks (RunOptions.onTasks). */
export interface TasksReport {
  readonly pipelineId: string
  readonly host: string
  readonly pid: number
  /** Per partition ("topic:3") the task's state; partitions without a task are not listed. */
  readonly tasks: Readonly<Record<string, TaskStateView>>
}
