import {
  type Acl,
  AclOperations,
  AclPermissionTypes,
  Admin,
  ResourcePatternTypes,
  ResourceTypes,
} from '@platformatic/kafka'
import { baseClientOptions } from '../../src/connectors/kafka/connection.ts'
import type { KafkaSecurity } from '../../src/connectors/kafka/security.ts'
import { waitFor } from './wait.ts'

/** One ACL in kafka-acls.sh's terms: `--allow-principal User:NAME --operation OP --topic NAME [--resource-pattern-type prefixed]`. */
export interface AclGrant {
  readonly resource: 'topic' | 'group' | 'transactional-id' | 'cluster'
  /** The resource's name (a prefix when `prefixed`); the cluster's is `kafka-cluster`. */
  readonly name: string
  readonly operation: keyof typeof AclOperations
  readonly prefixed?: boolean
}

const RESOURCE_TYPES = {
  topic: ResourceTypes.TOPIC,
  group: ResourceTypes.GROUP,
  'transactional-id': ResourceTypes.TRANSACTIONAL_ID,
  cluster: ResourceTypes.CLUSTER,
} as const

/** How kafka-acls.sh would name the grant, for messages. */
export function describeGrant(grant: AclGrant): string {
  const pattern = grant.prefixed ? ' (prefixed)' : ''
  return `${grant.operation} on ${grant.resource} ${grant.name}${pattern}`
}

function acl(principal: string, grant: AclGrant): Acl {
  return {
    resourceType: RESOURCE_TYPES[grant.resource],
    resourceName: grant.name,
    resourcePatternType: grant.prefixed ? ResourcePatternTypes.PREFIXED : ResourcePatternTypes.LITERAL,
    principal,
    host: '*',
    operation: AclOperations[grant.operation],
    permissionType: AclPermissionTypes.ALLOW,
  }
}

/**
 * Grants and revokes ACLs as a super user, through the Admin API kafka-acls.sh uses (CreateAcls, DeleteAcls):
 * the broker jars the local cluster runs do not include Kafka's command-line tools.
 */
export class KafkaAcls {
  readonly #admin: Admin

  constructor(brokers: string, superUser: KafkaSecurity) {
    this.#admin = new Admin(baseClientOptions({ brokers, security: superUser }, 'acl-test'))
  }

  /** Grants `grants` to the user, and returns once the broker's authorizer holds them. */
  async grant(user: string, grants: readonly AclGrant[]): Promise<void> {
    await this.#admin.createAcls({ creations: grants.map((g) => acl(`User:${user}`, g)) })
    await waitFor(() => this.#holds(user, grants, true), 10_000, 'the ACLs granted')
  }

  /** Revokes `grants` from the user, and returns once the broker's authorizer no longer holds them. */
  async revoke(user: string, grants: readonly AclGrant[]): Promise<void> {
    await this.#admin.deleteAcls({ filters: grants.map((g) => acl(`User:${user}`, g)) })
    await waitFor(() => this.#holds(user, grants, false), 10_000, 'the ACLs revoked')
  }

  /** Whether DescribeAcls answers every one of `grants` as held (`held`) or none of them (`!held`). */
  async #holds(user: string, grants: readonly AclGrant[], held: boolean): Promise<boolean> {
    for (const g of grants) {
      const found = await this.#admin.describeAcls({ filter: acl(`User:${user}`, g) })
      if (found.some((r) => r.acls.length > 0) !== held) return false
    }
    return true
  }

  async close(): Promise<void> {
    await this.#admin.close()
  }
}
