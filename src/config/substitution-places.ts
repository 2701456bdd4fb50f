import type { DocumentPath } from './source-map.ts'

/**
 * What a string of the pipeline file is, by its place in the document: `${VAR}` substitution makes the
 * variable's value a literal of that place (environment.ts). Read from the raw document, before it is
 * validated, so a place is recognised by its path alone; the schema (document.ts, document-connectors.ts)
 * is the reference, and a new expression or path field must be added here too.
 */
export type SubstitutionPlace = 'expression' | 'path' | 'text'

/** A step's fields that are CEL expressions, by step kind: `true` for all its strings, else the sub-keys. */
const STEP_EXPRESSIONS: Readonly<Record<string, true | readonly string[]>> = {
  filter: true,
  map: true,
  flatMap: true,
  keyBy: true,
  withField: ['expr'],
  dedupe: ['key'],
  join: ['on', 'fields'],
  process: ['init', 'next', 'emit'],
}

/** Options that are file system paths (or lake URLs), relative to the working directory. */
const PATHS: readonly (readonly string[])[] = [
  ['schema', 'jsonSchema'],
  ['source', 'files', 'path'],
  ['source', 'lake', 'path'],
  ['sink', 'lake', 'path'],
  ['sink', 'duckdb', 'path'],
]

export function placeOf(path: DocumentPath): SubstitutionPlace {
  if (path[0] === 'steps' && typeof path[2] === 'string') return stepPlace(path[2], path.slice(3))
  if (PATHS.some((p) => sameKeys(p, path))) return 'path'
  return 'text'
}

function stepPlace(kind: string, rest: DocumentPath): SubstitutionPlace {
  if (kind === 'join' && sameKeys(['table', 'jsonl', 'path'], rest)) return 'path'
  // aggregate: { fields: { n: count, total: { sum: expr }, c: { collect: { expr, max } } } }
  if (kind === 'aggregate')
    return rest[0] === 'fields' && rest.length >= 3 && (rest.length === 3 || rest[3] === 'expr')
      ? 'expression'
      : 'text'
  const expressions = STEP_EXPRESSIONS[kind]
  if (expressions === true) return 'expression'
  return expressions?.includes(String(rest[0])) ? 'expression' : 'text'
}

function sameKeys(keys: readonly string[], path: DocumentPath): boolean {
  return keys.length === path.length && keys.every((k, i) => k === path[i])
}
