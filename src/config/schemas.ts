import { readFile } from 'node:fs/promises'
import { z } from 'zod'
import { clickEventSchema } from '../clickstream/zod-schema.ts'
import { fromJsonSchema, type JsonSchemaDocument, type JsonSchemaParser } from '../dsl/parse.ts'
import { UsageError } from '../errors.ts'
import type { RegistryParser } from '../registry/registry-parser.ts'
import { anyShape, type Shape, shapeFromJsonSchema, shapeFromZod } from './record-shape.ts'

/**
 * The `schema:` of a pipeline file, as the parse step's validator. Built-in names map to the project's Zod
 * schemas (the same validation, and the same dead-letter reasons, as a TypeScript pipeline gets). A JSON Schema
 * file goes through the DSL's fromJsonSchema (Ajv): Zod's own JSON Schema import refuses if/then/else, which
 * our clickstream schema and many real schemas use, while Ajv implements all of draft 2020-12.
 */
export interface RecordSchema {
  readonly name: string
  /** For the DSL's parse step, which decodes JSON and reports the problems in the dead letter's reason. */
  readonly schema: z.ZodType | JsonSchemaParser<unknown> | RegistryParser<unknown>
  /** What the schema says of the records' fields, to check the fields expressions read when the file loads. */
  readonly shape: Shape
}

export const builtinSchemas: Readonly<Record<string, RecordSchema>> = {
  'clickstream-event': {
    name: 'clickstream-event',
    schema: clickEventSchema,
    // Built when a file uses it, not when this module loads.
    get shape() {
      return shapeFromZod(clickEventSchema)
    },
  },
}

/** Without a schema, values are decoded as JSON and passed on unchecked. */
export const jsonOnly: RecordSchema = { name: 'json', schema: z.unknown(), shape: anyShape }

/** A JSON Schema file could not be read or compiled; the message says why. */
export class SchemaFileError extends Error {}

export async function jsonSchemaFile(path: string, label: string): Promise<RecordSchema> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new SchemaFileError(
      code === 'ENOENT'
        ? `JSON Schema file ${label} not found`
        : `cannot read ${label}: ${(error as Error).message}`,
    )
  }
  let schema: unknown
  try {
    schema = JSON.parse(text)
  } catch (error) {
    throw new SchemaFileError(`${label} is not valid JSON: ${(error as Error).message}`)
  }
  if (typeof schema !== 'boolean' && (typeof schema !== 'object' || schema === null || Array.isArray(schema)))
    throw new SchemaFileError(`${label} is not a JSON Schema: expected an object`)
  try {
    const parser = fromJsonSchema(schema as JsonSchemaDocument)
    return { name: parser.name, schema: parser, shape: shapeFromJsonSchema(schema) }
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    throw new SchemaFileError(`${label}: ${error.message}`)
  }
}
