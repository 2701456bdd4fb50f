/**
 * A Zod schema of the clickstream event, written the way a user of Sluice would write one for
 * schemas/clickstream-event.schema.json: every required field with its type, enums for the closed sets, the
 * id patterns as regexes, ISO timestamps, the optional per-event-type objects. It does not encode the
 * if/then rules between event_type and the optional objects (a user would rarely bother), and it strips
 * unknown keys (Zod's default) rather than rejecting them.
 *
 * The engine package has no Zod schema of the event (src/clickstream has the TypeScript type and the JSON
 * Schema only), so the benchmark keeps its own here.
 */
import { z } from 'zod'

const webDevice = z.object({
  type: z.enum(['desktop', 'mobile', 'tablet']),
  os: z.string().min(1),
  browser: z.string().min(1),
})

const appDevice = z.object({
  type: z.enum(['mobile', 'tablet']),
  os: z.string().min(1),
  app_version: z.string().min(1),
})

export const clickEventSchema = z
  .object({
    schema_version: z.literal(1),
    event_id: z.uuid(),
    event_type: z.enum([
      'page_view',
      'search',
      'click',
      'add_to_cart',
      'remove_from_cart',
      'checkout',
      'purchase',
      'login',
      'signup',
      'app_open',
      'error',
    ]),
    event_time: z.iso.datetime(),
    user_id: z.string().regex(/^u-\d{6,}$/),
    anonymous_id: z.string().regex(/^a-[0-9a-f]{12}$/),
    session_id: z.string().regex(/^s-[0-9a-f]{16}$/),
    platform: z.enum(['web', 'ios', 'android']),
    device: z.union([webDevice, appDevice]),
    country: z.string().regex(/^[A-Z]{2}$/),
    page: z.object({
      url: z.string().startsWith('https://'),
      path: z.string().startsWith('/'),
      referrer: z.string().nullable(),
      title: z.string(),
    }),
    utm: z
      .object({ source: z.string().min(1), medium: z.string().min(1), campaign: z.string().min(1) })
      .nullable(),
    product: z
      .object({
        id: z.string().regex(/^p-\d{4}$/),
        name: z.string().min(1),
        category: z.string().min(1),
        price: z.number().positive(),
      })
      .optional(),
    search_query: z.string().min(1).optional(),
    cart: z.object({ items: z.int().nonnegative(), value: z.number().nonnegative() }).optional(),
    order: z
      .object({
        order_id: z.string().regex(/^o-[0-9a-f]{16}$/),
        total: z.number().positive(),
        currency: z.literal('EUR'),
        items: z.int().positive(),
      })
      .optional(),
    error: z.object({ code: z.string().regex(/^[A-Z0-9_]+$/), message: z.string().min(1) }).optional(),
  })
  .describe('clickstream-event')

export type BenchClickEvent = z.output<typeof clickEventSchema>

/** The small synthetic record of the `state` workload: one distinct key each. */
export const stateRecordSchema = z
  .object({ k: z.string(), v: z.number(), t: z.number() })
  .describe('state-record')
