import { isAbsolute } from 'node:path'
import { celStringLiteral, escapeCelString, type LiteralContext, literalContexts } from './cel-literal.ts'
import type { FileProblem } from './errors.ts'
import { display } from './issues.ts'
import type { DocumentPath, SourceMap } from './source-map.ts'
import { placeOf, type SubstitutionPlace } from './substitution-places.ts'

/**
 * `${NAME}` and `${NAME:-default}` in the file's strings are replaced by environment variables (as in Docker
 * Compose), so one file serves several environments: `topics: ${SLUICE_NAMESPACE:-}events`. `$${` is a
 * literal `${`. A variable that is unset and has no default is a problem at its place in the file.
 *
 * Substitution runs on the parsed YAML's values, and a value is data of the place it goes, never code:
 * - in a CEL expression it is a string literal: quoted where the reference stands in code
 *   (`event.user == ${USER}` reads `event.user == "alice"`), escaped where it stands inside a quoted string;
 * - in a path option, a variable after the start of the path must stay inside what comes before it: no `..`
 *   segment, not absolute. A variable that starts the path chooses the base (`${SLUICE_DATA_DIR:-data}/lake`).
 */
const REFERENCE = /\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g

export function substituteEnvironment(
  value: unknown,
  env: Readonly<Record<string, string | undefined>>,
  map: SourceMap,
  problems: FileProblem[],
  path: DocumentPath = [],
): unknown {
  if (typeof value === 'string') {
    if (!value.includes('${')) return value
    return substituteString(value, env, map, problems, path)
  }
  if (Array.isArray(value))
    return value.map((item, i) => substituteEnvironment(item, env, map, problems, [...path, i]))
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value))
      out[k] = substituteEnvironment(v, env, map, problems, [...path, k])
    return out
  }
  return value
}

interface Reference {
  readonly at: number
  readonly whole: string
  readonly escaped: boolean
  readonly name: string
  readonly fallback: string | undefined
}

function substituteString(
  text: string,
  env: Readonly<Record<string, string | undefined>>,
  map: SourceMap,
  problems: FileProblem[],
  path: DocumentPath,
): string {
  const references: Reference[] = [...text.matchAll(REFERENCE)].map((m) => ({
    at: m.index,
    whole: m[0],
    escaped: m[1] !== undefined,
    name: m[2] as string,
    fallback: m[3],
  }))
  const place = placeOf(path)
  const contexts =
    place === 'expression'
      ? literalContexts(
          text,
          references.map((r) => r.at),
        )
      : undefined
  let out = ''
  let from = 0
  references.forEach((ref, i) => {
    out += text.slice(from, ref.at)
    from = ref.at + ref.whole.length
    if (ref.escaped) {
      out += ref.whole.slice(1)
      return
    }
    const problem = (message: string) => problems.push({ ...map.inString(path, ref.at), message })
    const set = env[ref.name]
    const value = set !== undefined && set !== '' ? set : ref.fallback
    if (value === undefined) {
      problem(`environment variable ${ref.name} is not set (write \${${ref.name}:-default} for a default)`)
      return
    }
    const refused = refusal(place, value, ref.at, contexts?.[i])
    if (typeof refused === 'string')
      problem(`environment variable ${ref.name} in ${display(path)}: ${refused}`)
    else out += refused.literal
  })
  return out + text.slice(from)
}

/** The value as a literal of its place, or why it cannot be one. */
function refusal(
  place: SubstitutionPlace,
  value: string,
  at: number,
  context: LiteralContext | undefined,
): { literal: string } | string {
  if (place === 'path') return pathRefusal(value, at) ?? { literal: value }
  if (place === 'text' || !context) return { literal: value }
  switch (context.kind) {
    case 'code':
      return { literal: celStringLiteral(value) }
    case 'string':
      return context.raw
        ? 'stands in a raw string (r"…"), where its value cannot be escaped; use a plain string'
        : { literal: escapeCelString(value) }
    case 'escape':
      return 'follows a backslash in a string, which would take its first character as an escape'
  }
}

function pathRefusal(value: string, at: number): string | undefined {
  if (at === 0) return undefined
  if (value.split(/[\\/]/).includes('..'))
    return 'its value has a ".." segment, which would leave the folder before it; give a name inside it'
  if (isAbsolute(value) || /^[A-Za-z][A-Za-z0-9+.-]*:/.test(value))
    return 'its value is an absolute path or URL, which would leave the folder before it; give a relative one'
  return undefined
}
