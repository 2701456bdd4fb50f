import type { GroupMemberView, GroupViewReader } from '../../contracts/group-view.ts'
import { KafkaAdmin } from './admin.ts'
import type { KafkaConnection } from './connection.ts'
import { decodeMemberPlan } from './group-plan.ts'

/**
 * The group view of a consumer group over `topics` (src/contracts/group-view.ts), from one DescribeGroups
 * (members, their plans' host and pid, their assignments), one ListOffsets and one OffsetFetch per read. Its
 * admin client stays open between reads and never waits for open transactions (a lag view, not a position).
 */
export function kafkaGroupView(
  connection: KafkaConnection,
  groupId: string,
  topics: readonly string[],
): GroupViewReader {
  const admin = new KafkaAdmin(connection, { stableOffsets: false })
  return {
    groupId,
    read: async () => {
      const [group, offsets] = await Promise.all([
        admin.describeGroup(groupId),
        admin.committedAndEnds(groupId, topics),
      ])
      const members: GroupMemberView[] = group.members
        .map((m) => {
          const plan = decodeMemberPlan(m.userData)
          return {
            instance: m.groupInstanceId ?? `member ${m.memberId.slice(-8)}`,
            memberId: m.memberId,
            host: plan?.host ?? m.clientHost.replace(/^\//, ''),
            pid: plan?.pid ?? null,
            partitions: [...(m.partitions ?? [])].sort(byPartition),
          }
        })
        .sort((a, b) => a.instance.localeCompare(b.instance))
      const owners = new Map<string, string>()
      for (const m of members) for (const p of m.partitions) owners.set(p, m.instance)
      const partitions = [...offsets]
        .sort(([a], [b]) => byPartition(a, b))
        .map(([partition, o]) => ({
          partition,
          owner: owners.get(partition) ?? null,
          committed: o.committed >= 0n ? Number(o.committed) : null,
          end: Number(o.end),
          lag: Number(o.lag),
        }))
      return { groupId, state: group.state, at: new Date().toISOString(), members, partitions, error: null }
    },
    close: () => admin.close(),
  }
}

/** "events:2" before "events:10". */
function byPartition(a: string, b: string): number {
  const at = (s: string) => s.lastIndexOf(':')
  const topic = a.slice(0, at(a)).localeCompare(b.slice(0, at(b)))
  return topic !== 0 ? topic : Number(a.slice(at(a) + 1)) - Number(b.slice(at(b) + 1))
}
