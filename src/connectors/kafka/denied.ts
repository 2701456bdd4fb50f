import { AUTHORIZATION_FAILURE_CODES, authorizationFailureCode, KafkaError } from '../../errors.ts'
import { type KafkaConnection, resolveSecurity } from './connection.ts'

/** One permission a Kafka call needs, in kafka-acls.sh's terms. */
export interface KafkaAccess {
  readonly operation: 'Read' | 'Write' | 'Create' | 'Describe'
  readonly resource: keyof typeof AUTHORIZATION_FAILURE_CODES
  /** The resource's name, or its prefix when `prefixed`. */
  readonly name: string
  readonly prefixed?: boolean
}

/** The kafka-acls.sh option naming a resource of this kind. */
const ACLS_OPTION: Readonly<Record<KafkaAccess['resource'], string>> = {
  topic: '--topic',
  group: '--group',
  cluster: '--cluster',
  'transactional-id': '--transactional-id',
}

function userOf(connection: KafkaConnection): string | undefined {
  const sasl = connection.sasl as { username?: unknown } | undefined
  if (typeof sasl?.username === 'string') return sasl.username
  return resolveSecurity(connection).saslUsername
}

/**
 * When `error` is Kafka refusing one of `access` (its authorization failure is about that kind of resource),
 * the one-line error that names the permission and the kafka-acls.sh line that grants it; else undefined.
 */
export function kafkaDenied(
  connection: KafkaConnection,
  access: readonly KafkaAccess[],
  error: unknown,
): KafkaError | undefined {
  const code = authorizationFailureCode(error)
  if (code === undefined) return undefined
  const needed = access.filter((a) => AUTHORIZATION_FAILURE_CODES[a.resource] === code)
  if (needed.length === 0) return undefined
  const user = userOf(connection)
  const who = user === undefined ? 'this user' : `user "${user}"`
  const principal = user === undefined ? 'User:NAME' : `User:${user}`
  const what = needed
    .map((a) => `${a.operation} on ${a.resource} "${a.name}"${a.prefixed ? ' (a prefix)' : ''}`)
    .join(' or ')
  const grant = needed[0]!
  const option = grant.resource === 'cluster' ? '--cluster' : `${ACLS_OPTION[grant.resource]} ${grant.name}`
  const pattern = grant.prefixed ? ' --resource-pattern-type prefixed' : ''
  return new KafkaError(
    `Kafka denies ${who} ${what} (${codeName(code)}): grant it with kafka-acls.sh --add --allow-principal ${principal} --operation ${grant.operation} ${option}${pattern}`,
    { cause: error, namesRefusal: true },
  )
}

function codeName(code: number): string {
  const resource = Object.entries(AUTHORIZATION_FAILURE_CODES).find(([, c]) => c === code)?.[0] ?? 'unknown'
  return `${resource.toUpperCase().replace('-', '_')}_AUTHORIZATION_FAILED`
}

/** Runs `operation`; Kafka refusing one of `access` becomes kafkaDenied's one line, other errors pass as they are. */
export async function needing<T>(
  connection: KafkaConnection,
  access: readonly KafkaAccess[],
  operation: () => Promise<T>,
): Promise<T> {
  try {
    return await operation()
  } catch (error) {
    throw kafkaDenied(connection, access, error) ?? error
  }
}
