import { writeFile } from 'node:fs/promises'
import { UsageError } from '../errors.ts'
import { RegistryClient } from '../registry/client.ts'
import { typescriptFor } from '../registry/schema-typescript.ts'
import { registryConnection } from './registry-flags.ts'
import type { SchemaPullFlags } from './schema-command.ts'

/** `sluice schema pull SUBJECT`: the TypeScript type of the subject's latest schema, to a file or stdout. */
export async function pullSchema(subject: string, flags: SchemaPullFlags): Promise<void> {
  const typeName = flags.typeName ?? typeNameOf(subject)
  if (!/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(typeName))
    throw new UsageError(`--type-name must be a TypeScript identifier, got "${typeName}".`)
  const client = new RegistryClient(registryConnection(flags, 'sluice schema pull needs a schema registry'))
  const latest = await client.latest(subject)
  const text = [
    `// ${typeName}: subject ${subject}, version ${latest.version} (schema id ${latest.id}, ${latest.schemaType}),`,
    `// written by \`sluice schema pull\` from the registry at ${client.shownUrl}. Use: parse(registry<${typeName}>({ url })).`,
    typescriptFor(latest, typeName),
  ].join('\n')
  if (flags.out === undefined || flags.out === '-') {
    process.stdout.write(text)
    return
  }
  await writeFile(flags.out, text)
  process.stderr.write(
    `Wrote type ${typeName} (${latest.schemaType}, ${subject} version ${latest.version}, id ${latest.id}) to ${flags.out}.\n`,
  )
}

/** clicks-value → Clicks, orders.v2-value → OrdersV2. */
export function typeNameOf(subject: string): string {
  const words = subject
    .replace(/-value$/, '')
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
  const name = words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('')
  return /^[A-Za-z]/.test(name) ? name : `Schema${name}`
}
