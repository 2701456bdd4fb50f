/**
 * The clickstream event, as serialised to JSON (snake_case). schemas/clickstream-event.schema.json is the
 * same contract as a JSON Schema; src/clickstream/README.md documents it as a table.
 */
export const SCHEMA_VERSION = 1

export const EVENT_TYPES = [
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
] as const
export type EventType = (typeof EVENT_TYPES)[number]

export const PLATFORMS = ['web', 'ios', 'android'] as const
export type Platform = (typeof PLATFORMS)[number]

export type DeviceType = 'desktop' | 'mobile' | 'tablet'

/** Web devices name their browser, app devices the app version. */
export type Device =
  | { readonly type: DeviceType; readonly os: string; readonly browser: string }
  | { readonly type: DeviceType; readonly os: string; readonly app_version: string }

export interface Page {
  /** Full https URL; on the first page of a campaign visit it carries the utm_* query parameters. */
  readonly url: string
  readonly path: string
  /** The external referrer on a session's first page, then the previous page's URL; null for direct visits. */
  readonly referrer: string | null
  readonly title: string
}

export interface Utm {
  readonly source: string
  readonly medium: string
  readonly campaign: string
}

export interface EventProduct {
  readonly id: string
  readonly name: string
  readonly category: string
  readonly price: number
}

export interface Cart {
  /** Number of items (quantities summed). */
  readonly items: number
  /** Cart value in EUR. */
  readonly value: number
}

export interface Order {
  readonly order_id: string
  readonly total: number
  readonly currency: 'EUR'
  readonly items: number
}

export interface EventError {
  readonly code: string
  readonly message: string
}

export interface ClickEvent {
  readonly schema_version: typeof SCHEMA_VERSION
  /** UUID (version-4 layout) derived from the seed: unique per event, identical across reruns. */
  readonly event_id: string
  readonly event_type: EventType
  /** ISO-8601 UTC with milliseconds. */
  event_time: string
  /** "u-000123"; the record key. */
  readonly user_id: string
  /** The device's cookie / install id. */
  readonly anonymous_id: string
  readonly session_id: string
  readonly platform: Platform
  readonly device: Device
  /** ISO 3166-1 alpha-2. */
  readonly country: string
  readonly page: Page
  /** Campaign attribution of the session, null for organic and direct visits. */
  readonly utm: Utm | null
  /** product page views, click, add_to_cart, remove_from_cart. */
  readonly product?: EventProduct
  /** search only. */
  readonly search_query?: string
  /** add_to_cart, remove_from_cart, checkout: the cart after the action. */
  readonly cart?: Cart
  /** purchase only. */
  readonly order?: Order
  /** error only. */
  readonly error?: EventError
}
