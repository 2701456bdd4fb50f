import type { FileProblem } from './errors.ts'
import type { DocumentPath, SourceMap } from './source-map.ts'

/**
 * `${NAME}` and `${NAME:-default}` in the file's strings are replaced by environment variables (as in Docker
 * Compose), so one file serves several environments: `topics: ${SLUICE_NAMESPACE:-}events`. `$${` is a
 * literal `${`. A variable that is unset and has no default is a problem at its place in the file.
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
    return value.replace(
      REFERENCE,
      (whole, escaped: string | undefined, name: string, fallback: string | undefined, at: number) => {
        if (escaped) return whole.slice(1)
        const set = env[name]
        if (set !== undefined && set !== '') return set
        if (fallback !== undefined) return fallback
        problems.push({
          ...map.inString(path, at),
          message: `environment variable ${name} is not set (write \${${name}:-default} for a default)`,
        })
        return ''
      },
    )
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
