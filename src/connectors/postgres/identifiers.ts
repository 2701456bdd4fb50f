import { UsageError } from '../../errors.ts'

/**
 * SQL identifiers. Every table and column name Sluice puts into SQL goes through `quoteIdent`, so a name
 * with quotes, spaces, dots or upper case is just a name; values never go into SQL text (they are
 * parameters or COPY data).
 */

/** `"name"` with embedded double quotes doubled. */
export function quoteIdent(name: string): string {
  if (name.length === 0) throw new UsageError('postgres(): an empty identifier is not a valid name.')
  if (name.includes('\u0000')) throw new UsageError('postgres(): identifiers cannot contain NUL characters.')
  return `"${name.replaceAll('"', '""')}"`
}

/** A table name, possibly schema-qualified. */
export interface TableName {
  readonly schema: string | undefined
  readonly name: string
}

/**
 * Splits `schema.table` at the first dot outside double quotes; each part may itself be quoted
 * (`"my schema"."page ""metrics"""`). An unquoted part is taken as written (case kept): the name the user
 * typed is the name of the table, not PostgreSQL's case-folded reading of it.
 */
export function parseTableName(input: string): TableName {
  const parts: string[] = []
  let current = ''
  let quoted = false
  let wasQuoted = false
  for (let i = 0; i < input.length; i++) {
    const ch = input[i]
    if (quoted) {
      if (ch === '"') {
        if (input[i + 1] === '"') {
          current += '"'
          i++
        } else quoted = false
      } else current += ch
    } else if (ch === '"' && current === '' && !wasQuoted) {
      quoted = true
      wasQuoted = true
    } else if (ch === '.' && parts.length === 0) {
      parts.push(current)
      current = ''
      wasQuoted = false
    } else current += ch
  }
  if (quoted)
    throw new UsageError(`postgres(): unbalanced quotes in the table name ${JSON.stringify(input)}.`)
  parts.push(current)
  const [first, second] = parts
  if (second === undefined) {
    if (!first) throw new UsageError('postgres(): a table name is required.')
    return { schema: undefined, name: first }
  }
  if (!first || !second)
    throw new UsageError(`postgres(): ${JSON.stringify(input)} is not a valid table name (schema.table).`)
  return { schema: first, name: second }
}

/** The quoted, possibly qualified name for SQL text. */
export function qualified(table: TableName): string {
  return table.schema === undefined
    ? quoteIdent(table.name)
    : `${quoteIdent(table.schema)}.${quoteIdent(table.name)}`
}

/** A sibling table in the same schema as `table` (offsets and dead letters live next to the data). */
export function sibling(table: TableName, name: string): TableName {
  const parsed = parseTableName(name)
  return parsed.schema === undefined ? { schema: table.schema, name: parsed.name } : parsed
}

/** For messages: schema.table without quotes unless needed. */
export function displayName(table: TableName): string {
  const show = (s: string) => (/^[a-z_][a-z0-9_]*$/.test(s) ? s : quoteIdent(s))
  return table.schema === undefined ? show(table.name) : `${show(table.schema)}.${show(table.name)}`
}
