/**
 * A clickstream event decoded from the registry formats, in the shape the JSON events have, so that the
 * same Zod schema (clickEventSchema) checks it and the pipelines after it see the same values.
 *
 * Avro has every field, null where JSON leaves it out; Protobuf leaves `optional` scalars unset and gives
 * unset messages as null. JSON leaves out the per-event-type fields (product, cart, …, a device's browser or
 * app_version) but always has `utm` and `page.referrer`, null when there is none.
 */
export function clickEventFromRegistry(decoded: unknown): unknown {
  if (!isObject(decoded)) return decoded
  const event = withoutNulls(decoded)
  if (isObject(event.device)) event.device = withoutNulls(event.device)
  if (isObject(event.page)) event.page = { ...event.page, referrer: event.page.referrer ?? null }
  event.utm ??= null
  return event
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value)
}

function withoutNulls(value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, field] of Object.entries(value))
    if (field !== null && field !== undefined) out[key] = field
  return out
}
