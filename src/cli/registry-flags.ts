import type { Command } from 'commander'
import { UsageError } from '../errors.ts'
import type { RegistryConnection } from '../registry/client.ts'
import { FORMATS, type RegistryFormat } from '../registry/schema-type.ts'

/** Where the schema registry is and who we are to it, as commander parses the flags. */
export interface RegistryConnectionFlags {
  registry?: string
  registryUser?: string
  registryPassword?: string
}

/** The schema registry flags of `sluice produce` and `sluice start`. */
export interface RegistryFlags extends RegistryConnectionFlags {
  format: string
}

/** Adds --format, --registry and the registry's credentials to a command. */
export function withRegistryFlags(command: Command, formatHelp: string): Command {
  return withRegistryConnectionFlags(
    command.option(
      '--format <format>',
      `${formatHelp}: json, or avro, protobuf or json-schema in the Confluent wire format (needs --registry)`,
      'json',
    ),
    "for --format avro|protobuf|json-schema; the schema is registered under '<topic>-value'",
  )
}

/** Adds --registry and the registry's credentials to a command. */
export function withRegistryConnectionFlags(command: Command, registryHelp: string): Command {
  return command
    .option(
      '--registry <url>',
      `schema registry (Confluent-compatible API) ${registryHelp} (default $SCHEMA_REGISTRY_URL; https://user:password@host also works)`,
    )
    .option('--registry-user <user>', "the registry's basic-auth user (default $SCHEMA_REGISTRY_USER)")
    .option(
      '--registry-password <password>',
      "the registry's basic-auth password (default $SCHEMA_REGISTRY_PASSWORD, which other users cannot see in the process list)",
    )
}

/**
 * The format and the registry to use, or undefined for JSON. Flags win over the environment
 * (SCHEMA_REGISTRY_URL, SCHEMA_REGISTRY_USER, SCHEMA_REGISTRY_PASSWORD), which wins over credentials in the URL.
 */
export function registryFormat(
  flags: RegistryFlags,
  env: NodeJS.ProcessEnv = process.env,
): { readonly type: RegistryFormat; readonly registry: RegistryConnection } | undefined {
  const credentialFlag = flags.registryUser !== undefined || flags.registryPassword !== undefined
  if (flags.format === 'json') {
    if (flags.registry !== undefined || credentialFlag)
      throw new UsageError(
        '--registry and its credentials are for --format avro, protobuf or json-schema: not with json.',
      )
    return undefined
  }
  if (!(FORMATS as readonly string[]).includes(flags.format))
    throw new UsageError(`Unknown --format "${flags.format}": expected json, ${FORMATS.join(', ')}.`)
  return {
    type: flags.format as RegistryFormat,
    registry: registryConnection(flags, `--format ${flags.format} needs a schema registry`, env),
  }
}

/** The registry the flags or the environment name; `needed` says what for when neither does. */
export function registryConnection(
  flags: RegistryConnectionFlags,
  needed: string,
  env: NodeJS.ProcessEnv = process.env,
): RegistryConnection {
  const url = flags.registry ?? (env.SCHEMA_REGISTRY_URL || undefined)
  if (url === undefined) throw new UsageError(`${needed}: --registry URL (or SCHEMA_REGISTRY_URL).`)
  const username = flags.registryUser ?? (env.SCHEMA_REGISTRY_USER || undefined)
  const password = flags.registryPassword ?? env.SCHEMA_REGISTRY_PASSWORD
  if (password !== undefined && username === undefined && !/\/\/[^/@]+@/.test(url))
    throw new UsageError(
      'A schema registry password without a user: give --registry-user (or SCHEMA_REGISTRY_USER).',
    )
  return {
    url,
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
  }
}
