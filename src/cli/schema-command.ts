import { Command } from 'commander'
import { type RegistryConnectionFlags, withRegistryConnectionFlags } from './registry-flags.ts'

/** The flags of `sluice schema pull`; it runs in schema-action.ts, loaded when it runs. */
export interface SchemaPullFlags extends RegistryConnectionFlags {
  out?: string
  typeName?: string
}

export function schemaCommand(): Command {
  const pull = withRegistryConnectionFlags(
    new Command('pull')
      .description(
        "write the TypeScript type of a subject's latest schema (Avro record, JSON Schema object, Protobuf message): the values parse(registry<T>()) gives",
      )
      .argument('<subject>', 'the subject, e.g. clicks-value')
      .option('--out <file>', 'write the type to this file (default: stdout)')
      .option(
        '--type-name <name>',
        'name of the exported type (default: from the subject, clicks-value → Clicks)',
      ),
    'to read the schema from',
  ).action(async (subject: string, flags: SchemaPullFlags) => {
    const { pullSchema } = await import('./schema-action.ts')
    await pullSchema(subject, flags)
  })
  return new Command('schema').description('schemas in a schema registry').addCommand(pull)
}
