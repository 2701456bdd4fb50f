import { TextDecoder } from 'node:util'
import type { z } from 'zod'

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

export type Validation = { ok: true; value: unknown } | { ok: false; reason: string }

/** Bytes or text to a JSON value; objects pass through. Reasons name what was wrong with the input. */
export function decodeJson(raw: unknown): Validation {
  let text: string
  if (Buffer.isBuffer(raw) || raw instanceof Uint8Array) {
    try {
      text = strictUtf8.decode(raw)
    } catch {
      return { ok: false, reason: 'invalid UTF-8' }
    }
  } else if (typeof raw === 'string') {
    text = raw
  } else if (raw === null || raw === undefined) {
    return { ok: false, reason: 'empty value (null)' }
  } else {
    return { ok: true, value: raw }
  }
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch (error) {
    return { ok: false, reason: `malformed JSON: ${(error as Error).message}` }
  }
}

/** A validator that decodes JSON and checks it against a Zod schema, with every issue in the reason. */
export function zodValidator(schema: z.ZodType): (raw: unknown) => Validation {
  return (raw) => {
    const decoded = decodeJson(raw)
    if (!decoded.ok) return decoded
    const result = schema.safeParse(decoded.value)
    if (result.success) return { ok: true, value: result.data }
    const issues = result.error.issues
      .slice(0, 5)
      .map((issue) => `${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`)
    return { ok: false, reason: `schema violation: ${issues.join('; ')}` }
  }
}
