import { z } from 'zod'
import { UsageError } from '../errors.ts'
import { type Duration, parseDuration } from '../window/duration.ts'

/** Zod building blocks for the pipeline file's schema, with messages written for people editing YAML. */

/** The closest of `options` to a mistyped `name`, when one is close enough to be a likely typo. */
export function suggest(name: string, options: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Math.max(2, Math.floor(name.length / 3)) + 1
  for (const option of options) {
    const d = editDistance(name.toLowerCase(), option.toLowerCase())
    if (d < bestDistance) {
      best = option
      bestDistance = d
    }
  }
  return best
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost)
    }
    previous = current
  }
  return previous[b.length]!
}

function unknownKeyMessage(what: string, key: string, known: readonly string[]): string {
  const close = suggest(key, known)
  return `unknown ${what} "${key}"${close ? ` (did you mean "${close}"?)` : ''}; expected one of: ${known.join(', ')}`
}

/** An object with exactly these fields; an unknown one is named, with the closest known field. */
export function fields<S extends z.ZodRawShape>(what: string, shape: S) {
  const known = Object.keys(shape)
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? unknownKeyMessage(`field of ${what}`, issue.keys[0] ?? '', known)
        : issue.code === 'invalid_type' && issue.input !== undefined
          ? `expected ${what} (a mapping), got ${describeValue(issue.input)}`
          : undefined,
  })
}

/** The typed form of a one-key mapping such as `{ kafka: {...} }`: which key, and its validated value. */
export type OneOf<S extends Record<string, z.ZodType>> = {
  [K in keyof S & string]: { readonly kind: K; readonly value: z.output<S[K]> }
}[keyof S & string]

/**
 * A mapping with exactly one key out of `shapes` (a source kind, a step's operator, an aggregate function),
 * plus optional `extra` fields (a step's `id`). Becomes `{ kind, value, ...extra }`.
 */
export function oneOf<S extends Record<string, z.ZodType>, E extends z.ZodRawShape = Record<never, never>>(
  what: string,
  shapes: S,
  extra?: E,
) {
  const kinds = Object.keys(shapes)
  const optional: Record<string, z.ZodType> = {}
  for (const [k, schema] of Object.entries(shapes)) optional[k] = schema.optional()
  const known = [...kinds, ...Object.keys(extra ?? {})]
  return z
    .strictObject({ ...optional, ...(extra ?? {}) } as z.ZodRawShape, {
      error: (issue) =>
        issue.code === 'unrecognized_keys'
          ? unknownKeyMessage(what, issue.keys[0] ?? '', kinds)
          : issue.code === 'invalid_type' && issue.input !== undefined
            ? `expected ${what} (a mapping with one of: ${kinds.join(', ')}), got ${describeValue(issue.input)}`
            : undefined,
    })
    .superRefine((value, ctx) => {
      const present = kinds.filter((k) => value[k] !== undefined)
      if (present.length === 0)
        ctx.addIssue({
          code: 'custom',
          message: `give a ${what}: one of ${kinds.join(', ')}`,
          // An unknown key already says what is wrong; issues.ts drops this one then.
          params: { noKind: true },
        })
      else if (present.length > 1)
        ctx.addIssue({
          code: 'custom',
          message: `one ${what} per entry, found ${present.join(' and ')}; known: ${known.join(', ')}`,
        })
    })
    .transform((value) => {
      const kind = kinds.find((k) => value[k] !== undefined)!
      const out: Record<string, unknown> = { kind, value: value[kind] }
      for (const k of Object.keys(extra ?? {})) if (value[k] !== undefined) out[k] = value[k]
      return out as OneOf<S> & z.output<z.ZodObject<E>>
    })
}

/**
 * A duration such as "30s", "5m", "1h30m", checked with the engine's own parser. A bare number is refused
 * (except 0): in a file, `delay: 30` meaning 30 milliseconds is a trap.
 */
export function duration(what: string, options: { allowZero?: boolean } = {}) {
  return z
    .union([z.string(), z.number()], { error: `expected a duration such as "30s", "5m" or "1h" for ${what}` })
    .superRefine((value, ctx) => {
      if (typeof value === 'number' && value !== 0) {
        ctx.addIssue({
          code: 'custom',
          message: `give ${what} with a unit, e.g. "${value}s" or "${value}ms"`,
        })
        return
      }
      try {
        parseDuration(value, what, options)
      } catch (error) {
        if (!(error instanceof UsageError)) throw error
        ctx.addIssue({ code: 'custom', message: error.message })
      }
    })
    .transform((value): Duration => value)
}

/** A CEL expression, compiled (and so checked) when the pipeline is built, with its place in the file. */
export const expression = z.string({ error: 'expected an expression (a string of CEL)' }).min(1, {
  error: 'an empty expression',
})

export const fieldName = z.string({ error: 'expected a field name' }).min(1, { error: 'an empty field name' })

export function describeValue(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a mapping'
  if (typeof value === 'string')
    return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`
  return `${typeof value} ${String(value)}`
}
