import { readFile } from 'node:fs/promises'
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js'
import formats from 'ajv-formats'
import { z } from 'zod'
import { clickEventSchema } from '../clickstream/zod-schema.ts'

/**
 * The `schema:` of a pipeline file, as the parse step's validator. Built-in names map to the project's Zod
 * schemas (the same validation, and the same dead-letter reasons, as a TypeScript pipeline gets). A JSON Schema
 * file is compiled with Ajv: Zod's own JSON Schema import refuses if/then/else, which our clickstream schema
 * and many real schemas use, while Ajv implements all of draft 2020-12 and is the reference validator.
 */
export interface RecordSchema {
  readonly name: string
  /** For the DSL's parse step, which decodes JSON and reports every issue in the dead letter's reason. */
  readonly schema: z.ZodType
}

export const builtinSchemas: Readonly<Record<string, RecordSchema>> = {
  'clickstream-event': { name: 'clickstream-event', schema: clickEventSchema },
}

/** Without a schema, values are decoded as JSON and passed on unchecked. */
export const jsonOnly: RecordSchema = { name: 'json', schema: z.unknown() }

/** A JSON Schema file could not be read or compiled; the message says why. */
export class SchemaFileError extends Error {}

// ajv-formats is CommonJS: Node hands its module.exports to a default import, TypeScript types it as the module.
const addFormats = ((formats as unknown as { default?: unknown }).default ?? formats) as (
  ajv: Ajv2020,
) => void

export async function jsonSchemaFile(path: string, label: string): Promise<RecordSchema> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new SchemaFileError(
      code === 'ENOENT'
        ? `JSON Schema file ${path} not found`
        : `cannot read ${path}: ${(error as Error).message}`,
    )
  }
  let schema: unknown
  try {
    schema = JSON.parse(text)
  } catch (error) {
    throw new SchemaFileError(`${label} is not valid JSON: ${(error as Error).message}`)
  }
  const ajv = new Ajv2020({ allErrors: true })
  addFormats(ajv)
  let check: ReturnType<Ajv2020['compile']>
  try {
    check = ajv.compile(schema as object)
  } catch (error) {
    throw new SchemaFileError(`${label} is not a usable JSON Schema: ${(error as Error).message}`)
  }
  const name =
    typeof schema === 'object' && schema !== null && typeof (schema as { title?: unknown }).title === 'string'
      ? (schema as { title: string }).title
      : label
  // Ajv's verdict as Zod issues, so the parse step reports them like any schema violation.
  const schemaType = z.unknown().superRefine((value, ctx) => {
    if (check(value)) return
    for (const e of (check.errors ?? []).slice(0, 5))
      ctx.addIssue({ code: 'custom', path: pathOf(e), message: messageOf(e) })
  })
  return { name, schema: schemaType }
}

/** "/page/path" to ["page", "path"]: JSON Pointer segments, unescaped. */
function pathOf(error: ErrorObject): string[] {
  if (!error.instancePath) return []
  return error.instancePath
    .slice(1)
    .split('/')
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'))
}

function messageOf(error: ErrorObject): string {
  const extra =
    error.keyword === 'additionalProperties'
      ? ` (${String((error.params as { additionalProperty?: unknown }).additionalProperty)})`
      : ''
  return `${error.message ?? error.keyword}${extra}`
}
