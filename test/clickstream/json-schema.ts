/**
 * A small JSON Schema (2020-12) checker for the keywords schemas/clickstream-event.schema.json uses. Any other
 * keyword fails loudly, so the schema cannot silently outgrow what this checks.
 */
type Schema = boolean | { readonly [keyword: string]: unknown }

const ANNOTATIONS = new Set(['$schema', '$id', '$defs', 'title', 'description', 'format'])

export function validator(root: Schema): (value: unknown) => string[] {
  const resolve = (ref: string): Schema => {
    if (!ref.startsWith('#/')) throw new Error(`unsupported $ref ${ref}`)
    let node: unknown = root
    for (const part of ref.slice(2).split('/')) node = (node as Record<string, unknown>)[part]
    if (node === undefined) throw new Error(`unresolved $ref ${ref}`)
    return node as Schema
  }

  const check = (schema: Schema, value: unknown, at: string, errors: string[]): void => {
    if (schema === true) return
    if (schema === false) {
      errors.push(`${at}: not allowed`)
      return
    }
    for (const [keyword, arg] of Object.entries(schema)) {
      switch (keyword) {
        case '$ref':
          check(resolve(arg as string), value, at, errors)
          break
        case 'type': {
          const types = Array.isArray(arg) ? (arg as string[]) : [arg as string]
          if (!types.some((t) => hasType(value, t))) errors.push(`${at}: expected ${types.join('|')}`)
          break
        }
        case 'const':
          if (JSON.stringify(value) !== JSON.stringify(arg))
            errors.push(`${at}: expected ${JSON.stringify(arg)}`)
          break
        case 'enum':
          if (!(arg as unknown[]).some((v) => JSON.stringify(v) === JSON.stringify(value)))
            errors.push(`${at}: not one of the allowed values`)
          break
        case 'pattern':
          if (typeof value === 'string' && !new RegExp(arg as string, 'u').test(value))
            errors.push(`${at}: does not match ${arg}`)
          break
        case 'minLength':
          if (typeof value === 'string' && [...value].length < (arg as number))
            errors.push(`${at}: too short`)
          break
        case 'minimum':
          if (typeof value === 'number' && value < (arg as number)) errors.push(`${at}: below ${arg}`)
          break
        case 'exclusiveMinimum':
          if (typeof value === 'number' && value <= (arg as number)) errors.push(`${at}: not above ${arg}`)
          break
        case 'required':
          if (isObject(value))
            for (const name of arg as string[]) if (!(name in value)) errors.push(`${at}: missing ${name}`)
          break
        case 'properties':
          if (isObject(value))
            for (const [name, sub] of Object.entries(arg as Record<string, Schema>))
              if (name in value) check(sub, value[name], `${at}.${name}`, errors)
          break
        case 'additionalProperties':
          if (isObject(value)) {
            const known = new Set(Object.keys((schema.properties as object | undefined) ?? {}))
            for (const name of Object.keys(value))
              if (!known.has(name)) check(arg as Schema, value[name], `${at}.${name}`, errors)
          }
          break
        case 'allOf':
          for (const sub of arg as Schema[]) check(sub, value, at, errors)
          break
        case 'oneOf': {
          const passing = (arg as Schema[]).filter((sub) => passes(sub, value, at)).length
          if (passing !== 1) errors.push(`${at}: matches ${passing} of oneOf`)
          break
        }
        case 'not':
          if (passes(arg as Schema, value, at)) errors.push(`${at}: matches a forbidden schema`)
          break
        case 'if': {
          const branch = passes(arg as Schema, value, at) ? schema.then : schema.else
          if (branch !== undefined) check(branch as Schema, value, at, errors)
          break
        }
        case 'then':
        case 'else':
          break
        default:
          if (!ANNOTATIONS.has(keyword))
            throw new Error(`json-schema.ts does not support the keyword ${keyword}`)
      }
    }
  }

  const passes = (schema: Schema, value: unknown, at: string): boolean => {
    const errors: string[] = []
    check(schema, value, at, errors)
    return errors.length === 0
  }

  return (value) => {
    const errors: string[] = []
    check(root, value, '$', errors)
    return errors
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function hasType(value: unknown, type: string): boolean {
  switch (type) {
    case 'null':
      return value === null
    case 'object':
      return isObject(value)
    case 'array':
      return Array.isArray(value)
    case 'integer':
      return Number.isInteger(value)
    case 'number':
      return typeof value === 'number' && Number.isFinite(value)
    default:
      return typeof value === type
  }
}
