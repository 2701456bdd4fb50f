import { hostname } from 'node:os'
import { relative } from 'node:path'
import { SluiceError } from '../../errors.ts'
import { planFingerprint, planSteps } from '../../plan/describe.ts'
import type { Plan } from '../../plan/nodes.ts'
import type { GroupDescription, GroupMemberInfo } from './admin.ts'

/**
 * One pipeline id is one plan. Instances of a pipeline share its consumer group (and so its partitions and
 * committed offsets), its transactional ids and, usually, its checkpoint and outputs; a different pipeline under
 * the same id would take partitions from it, commit offsets it never wrote, and fence its transactions. So each
 * member carries its plan in the group: a short fingerprint and the plan's description travel as the userData of
 * its JoinGroup subscription (as Kafka Streams carries its own subscription info), where DescribeGroups shows
 * them to everyone. An instance starting looks at the running members first and refuses to join a group whose
 * members run another plan (checkGroupPlan). Instances of the same plan join freely.
 *
 * The check runs before joining and once more after (excluding the member itself): two different plans started
 * at the same moment both see an empty group before, but each other after, and both stop. Members without a
 * Sluice plan in their metadata (another client, an older Sluice) are not judged.
 */

/** What a member says about its plan. */
export interface MemberPlan {
  readonly pipelineId: string
  /** 16 hex digits of the SHA-256 of the plan's description. */
  readonly fingerprint: string
  /** The plan's description, one line per step ("kind id  details", as describePlan prints them). */
  readonly steps: readonly string[]
  /** What runs it, e.g. "run by bin/sluice.js run examples/page-metrics.yaml, pid 42 on host a". */
  readonly runner: string
  /** The process and machine running it (for the group view; absent in an older Sluice's plans). */
  readonly pid?: number
  readonly host?: string
}

/** This process's plan for `plan`: its fingerprint, its steps, and the command running it. */
export function memberPlan(plan: Plan): MemberPlan {
  const [script, ...args] = process.argv.slice(1)
  // The script and the arguments before the first flag ("bin/sluice.js run pipeline.yaml"): flags may carry
  // values nobody else should read, and every client of the cluster may describe the group.
  const firstFlag = args.findIndex((a) => a.startsWith('-'))
  const positional = firstFlag < 0 ? args : args.slice(0, firstFlag)
  const command = [script ? relative(process.cwd(), script) || script : 'node', ...positional]
    .join(' ')
    .slice(0, 200)
  return {
    pipelineId: plan.pipelineId,
    fingerprint: planFingerprint(plan),
    steps: planSteps(plan),
    runner: `run by ${command}, pid ${process.pid} on ${hostname()}`,
    pid: process.pid,
    host: hostname(),
  }
}

const MAGIC = 'sluice-plan/1\n'

/** The member's userData: a marker line, then the plan as JSON. */
export function encodeMemberPlan(plan: MemberPlan): Buffer {
  return Buffer.from(MAGIC + JSON.stringify(plan), 'utf8')
}

/** The plan a member carries, or undefined when its userData is not a Sluice plan. */
export function decodeMemberPlan(userData: Buffer | string | null | undefined): MemberPlan | undefined {
  if (!userData || userData.length <= MAGIC.length) return undefined
  const text = typeof userData === 'string' ? userData : userData.toString('utf8')
  if (!text.startsWith(MAGIC)) return undefined
  try {
    const parsed = JSON.parse(text.slice(MAGIC.length)) as Partial<MemberPlan>
    if (typeof parsed.fingerprint !== 'string' || !Array.isArray(parsed.steps)) return undefined
    return {
      pipelineId: String(parsed.pipelineId ?? ''),
      fingerprint: parsed.fingerprint,
      steps: parsed.steps.map(String),
      runner: String(parsed.runner ?? 'unknown'),
      ...(typeof parsed.pid === 'number' ? { pid: parsed.pid } : {}),
      ...(typeof parsed.host === 'string' ? { host: parsed.host } : {}),
    }
  } catch {
    return undefined
  }
}

/** Another plan runs in the pipeline's consumer group: this instance does not start. */
export class PlanConflictError extends SluiceError {
  readonly groupId: string
  readonly mine: MemberPlan
  readonly theirs: MemberPlan

  constructor(groupId: string, mine: MemberPlan, theirs: MemberPlan, member: GroupMemberInfo) {
    const differences = planDifferences(theirs.steps, mine.steps)
    super(
      'SLUICE_PLAN_CONFLICT',
      [
        `Pipeline "${mine.pipelineId}" (plan ${mine.fingerprint}, ${mine.runner}) cannot join its consumer group ` +
          `"${groupId}": member ${member.clientId} at ${member.clientHost.replace(/^\//, '')} runs another plan under this id ` +
          `(plan ${theirs.fingerprint}, ${theirs.runner}).`,
        ...(differences.length > 0
          ? ['What differs (running → this one):', ...differences.map((d) => `  ${d}`)]
          : []),
        'Instances of one pipeline id share its partitions, offsets and transactions, so two plans under one id ' +
          "corrupt each other's results. Give one of the pipelines another id (pipeline('…') or `pipeline:` in " +
          'YAML), or stop the running one first. (A member killed a moment ago stays in the group until its ' +
          'session times out, about 10 s.)',
      ].join('\n'),
      { domain: 'user', exitCode: 2 },
    )
    this.groupId = groupId
    this.mine = mine
    this.theirs = theirs
  }
}

/**
 * Throws PlanConflictError when a member of the group (other than `self`) carries a plan with another
 * fingerprint than `mine`.
 */
export function checkMembers(
  groupId: string,
  mine: MemberPlan,
  members: Iterable<GroupMemberInfo>,
  self?: string,
): void {
  for (const member of members) {
    if (member.memberId === self) continue
    const theirs = decodeMemberPlan(member.userData)
    if (theirs && theirs.fingerprint !== mine.fingerprint)
      throw new PlanConflictError(groupId, mine, theirs, member)
  }
}

/**
 * The steps that differ between two plan descriptions, matched by step id: "+ kind id  details" only in
 * `after`, "- …" only in `before`, "~ id: before → after" changed. At most `limit` lines.
 */
export function planDifferences(before: readonly string[], after: readonly string[], limit = 8): string[] {
  const byId = (lines: readonly string[]) =>
    new Map(lines.map((line) => [stepId(line), line.trim()] as const))
  const a = byId(before)
  const b = byId(after)
  const out: string[] = []
  for (const [id, line] of a) {
    const now = b.get(id)
    if (now === undefined) out.push(`- ${line}`)
    else if (now !== line) out.push(`~ ${line}  →  ${now}`)
  }
  for (const [id, line] of b) if (!a.has(id)) out.push(`+ ${line}`)
  return out.length > limit ? [...out.slice(0, limit), `… and ${out.length - limit} more`] : out
}

/** "  window    window-2  window=…" → "window-2" (the step id; the kind when the line has no id). */
function stepId(line: string): string {
  const [kind, id] = line.trim().split(/\s+/, 2)
  return id ?? kind ?? line
}

/**
 * Looks at the group's members and throws PlanConflictError when one (other than `self`) runs another plan. A
 * rebalancing group shows no subscriptions: it is asked again until it settles, for at most `settleMs`
 * (default 2 s), and then judged on what it shows. The wait is short because an instance restarting after a
 * fence meets a group that is rebalancing for its own sake (its consumer just left it): with 10 s the lake
 * zombie test's restarted instance waited up to 10 s before joining. A conflict the check misses that way
 * is found by the check after joining (KafkaSource.open), which stops the newcomer.
 */
export async function checkGroupPlan(
  admin: { describeGroup(groupId: string): Promise<GroupDescription> },
  groupId: string,
  mine: MemberPlan,
  options: { readonly self?: string; readonly settleMs?: number; readonly signal?: AbortSignal } = {},
): Promise<void> {
  const deadline = Date.now() + (options.settleMs ?? 2_000)
  for (;;) {
    const group = await admin.describeGroup(groupId)
    const settling = group.state === 'PreparingRebalance' || group.state === 'CompletingRebalance'
    if (!settling || Date.now() >= deadline || options.signal?.aborted) {
      checkMembers(groupId, mine, group.members, options.self)
      return
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}
