import { z } from 'zod'
import { EVENT_TYPES, type EventType, PLATFORMS, SCHEMA_VERSION } from './event.ts'

/**
 * The clickstream event as a Zod schema: the same contract as schemas/clickstream-event.schema.json (and the
 * ClickEvent type of event.ts), for `.parse(clickEventSchema)` in pipelines over `sluice produce` or
 * generator() data. Objects are strict (no unknown fields), like the JSON Schema's additionalProperties:
 * false, and the per-event-type fields are required or forbidden as there.
 */
const text = z.string().min(1)

const webDevice = z.strictObject({
  type: z.enum(['desktop', 'mobile', 'tablet']),
  os: text,
  browser: text,
})

const appDevice = z.strictObject({
  type: z.enum(['mobile', 'tablet']),
  os: text,
  app_version: z.string().regex(/^\d+\.\d+\.\d+$/),
})

const page = z.strictObject({
  url: z.string().regex(/^https:\/\//),
  path: z.string().regex(/^\//),
  referrer: z.string().nullable(),
  title: z.string(),
})

const utm = z.strictObject({ source: text, medium: text, campaign: text })

const product = z.strictObject({
  id: z.string().regex(/^p-\d{4}$/),
  name: text,
  category: text,
  price: z.number().positive(),
})

const cart = z.strictObject({
  items: z.number().int().min(0),
  value: z.number().min(0),
})

const order = z.strictObject({
  order_id: z.string().regex(/^o-[0-9a-f]{16}$/),
  total: z.number().positive(),
  currency: z.literal('EUR'),
  items: z.number().int().min(1),
})

const eventError = z.strictObject({
  code: z.string().regex(/^[A-Z0-9_]+$/),
  message: text,
})

/** Event types that carry a field, and whether it is required ('page_view' may carry a product). */
const REQUIRED: Record<'product' | 'search_query' | 'cart' | 'order' | 'error', readonly EventType[]> = {
  product: ['click', 'add_to_cart', 'remove_from_cart'],
  search_query: ['search'],
  cart: ['add_to_cart', 'remove_from_cart', 'checkout'],
  order: ['purchase'],
  error: ['error'],
}
const OPTIONAL: Partial<Record<keyof typeof REQUIRED, readonly EventType[]>> = { product: ['page_view'] }

export const clickEventSchema = z
  .strictObject({
    schema_version: z.literal(SCHEMA_VERSION),
    event_id: z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
    event_type: z.enum(EVENT_TYPES),
    event_time: z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/),
    user_id: z.string().regex(/^u-\d{6,}$/),
    anonymous_id: z.string().regex(/^a-[0-9a-f]{12}$/),
    session_id: z.string().regex(/^s-[0-9a-f]{16}$/),
    platform: z.enum(PLATFORMS),
    device: z.union([webDevice, appDevice]),
    country: z.string().regex(/^[A-Z]{2}$/),
    page,
    utm: utm.nullable(),
    product: product.optional(),
    search_query: text.optional(),
    cart: cart.optional(),
    order: order.optional(),
    error: eventError.optional(),
  })
  .superRefine((event, ctx) => {
    const web = event.platform === 'web'
    if (web !== 'browser' in event.device) {
      ctx.addIssue({
        code: 'custom',
        path: ['device'],
        message: web ? 'web devices name their browser' : 'app devices name their app_version',
      })
    }
    for (const [field, types] of Object.entries(REQUIRED) as [keyof typeof REQUIRED, EventType[]][]) {
      const present = event[field] !== undefined
      if (types.includes(event.event_type)) {
        if (!present)
          ctx.addIssue({ code: 'custom', path: [field], message: `required on ${event.event_type}` })
      } else if (present && !OPTIONAL[field]?.includes(event.event_type)) {
        ctx.addIssue({ code: 'custom', path: [field], message: `not allowed on ${event.event_type}` })
      }
    }
  })
  .describe('clickstream-event')

export type ClickEventRecord = z.output<typeof clickEventSchema>
