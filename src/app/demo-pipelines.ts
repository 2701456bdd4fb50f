import { join } from 'node:path'
import { z } from 'zod'
import { aggregates, approxCountDistinct, count, countDistinct, max, sum } from '../aggregate/index.ts'
import { catalogueRows } from '../clickstream/catalogue.ts'
import { clickEventFromRegistry } from '../clickstream/registry-event.ts'
import { type ClickEventRecord, clickEventSchema } from '../clickstream/zod-schema.ts'
import type { KafkaConnection } from '../connectors/kafka/connection.ts'
import { withKafkaDeadLetters } from '../connectors/kafka/dead-letters.ts'
import { kafkaSink } from '../connectors/kafka/sink.ts'
import { kafka } from '../connectors/kafka/source.ts'
import { lake } from '../connectors/lake/lake.ts'
import { staticTable } from '../connectors/tables/static-table.ts'
import { type Pipeline, pipeline } from '../dsl/stream.ts'
import type { RegistryConnection } from '../registry/client.ts'
import { registry } from '../registry/registry-parser.ts'
import { hopping, session, tumbling } from '../window/index.ts'
import { type Warehouse, warehouseSink } from './warehouse.ts'

export const TOPICS = {
  events: 'events',
  deadLetters: 'events.dlq',
  alerts: 'alerts',
  alertDeadLetters: 'alerts.dlq',
} as const

export type Topics = { readonly [K in keyof typeof TOPICS]: string }

/** The demo's topics, prefixed by a namespace (several demos on one broker, tests). */
export function demoTopics(namespace = ''): Topics {
  return {
    events: `${namespace}${TOPICS.events}`,
    deadLetters: `${namespace}${TOPICS.deadLetters}`,
    alerts: `${namespace}${TOPICS.alerts}`,
    alertDeadLetters: `${namespace}${TOPICS.alertDeadLetters}`,
  }
}

export const TABLES = {
  pageMetrics: 'page_metrics',
  sessions: 'sessions',
} as const

/** Where the demo pipelines write: the broker, the lake folder and the warehouse. */
export interface DemoOutputs {
  readonly connection: KafkaConnection
  /** Prefix of topic names and pipeline ids (so of consumer groups); '' by default. */
  readonly namespace: string
  readonly topics: Topics
  /** The lake table of clean events, e.g. data/lake/events. */
  readonly lakePath: string
  /** How the lake is written: Sluice's Parquet lake, or an Iceberg table registered in a SQLite catalog. */
  readonly lake: LakeLayout
  readonly warehouse: Warehouse
  /**
   * Where the events' schema is when they are Avro, Protobuf or JSON Schema in the Confluent wire format
   * (`sluice start --format`); undefined for JSON.
   */
  readonly registry?: RegistryConnection
}

type Event = ClickEventRecord

export type LakeLayout =
  | { readonly format: 'parquet' }
  | { readonly format: 'iceberg'; readonly catalog: string; readonly table: string }

/** The Iceberg table of `sluice start --lake-format iceberg`, in the SQL catalog beside it. */
export const ICEBERG_TABLE = 'sluice.events'

/** The SQL catalog of `sluice start --lake-format iceberg` under the data folder. */
export function icebergCatalog(dataDir: string): string {
  return join(dataDir, 'lake', 'iceberg', 'catalog.db')
}

/** Where the main job's lake is under the data folder, in each format. */
export function lakeLayout(
  dataDir: string,
  format: 'parquet' | 'iceberg',
): { readonly lakePath: string; readonly lake: LakeLayout } {
  if (format === 'parquet') return { lakePath: join(dataDir, 'lake', 'events'), lake: { format } }
  return {
    lakePath: join(dataDir, 'lake', 'iceberg', 'events'),
    lake: { format, catalog: icebergCatalog(dataDir), table: ICEBERG_TABLE },
  }
}

/** Lower-cased UTM fields and enums, the URL reduced to its path, the date to partition by. */
export function normalise(e: Event) {
  return {
    event_id: e.event_id,
    event_type: e.event_type.toLowerCase(),
    event_time: e.event_time,
    event_date: e.event_time.slice(0, 10),
    user_id: e.user_id,
    session_id: e.session_id,
    platform: e.platform.toLowerCase(),
    country: e.country,
    path: new URL(e.page.url).pathname,
    referrer: e.page.referrer,
    utm_source: e.utm?.source.toLowerCase() ?? null,
    utm_medium: e.utm?.medium.toLowerCase() ?? null,
    utm_campaign: e.utm?.campaign.toLowerCase() ?? null,
    product_id: e.product?.id ?? null,
    order_id: e.order?.order_id ?? null,
    order_total: e.order?.total ?? null,
  }
}

const products = staticTable('products', catalogueRows(), (p) => p.id)

function events(out: DemoOutputs, name: string) {
  const id = `${out.namespace}${name}`
  const records = pipeline(id).from(
    kafka({ ...out.connection, topics: out.topics.events, instanceId: `${id}-0` }),
  )
  // Decoded from the registry's format, the event is then held to the same contract as a JSON one.
  const asEvents = { schemaName: 'clickstream-event' }
  const parsed = out.registry
    ? records
        .parse(registry({ ...out.registry, subject: `${out.topics.events}-value` }))
        .map(clickEventFromRegistry)
        .parse(clickEventSchema, asEvents)
    : records.parse(clickEventSchema, asEvents)
  return parsed.withWatermark('event_time', '30s', { idleTimeout: '30s' })
}

/** clean-events: validated, normalised, de-duplicated and enriched events in the Parquet lake. */
export function cleanEvents(out: DemoOutputs) {
  return events(out, 'clean-events')
    .dedupe((e) => e.event_id, '10m')
    .map(normalise)
    .join(
      products,
      (e) => e.product_id,
      (e, p) => ({ ...e, product_name: p?.name ?? null, product_category: p?.category ?? null }),
      { how: 'left' },
    )
    .to(
      withKafkaDeadLetters(
        out.lake.format === 'iceberg'
          ? lake({
              path: out.lakePath,
              format: 'iceberg',
              catalog: { sqlite: out.lake.catalog, table: out.lake.table },
              partitionBy: ['event_date', 'event_type'],
            })
          : lake({
              path: out.lakePath,
              partitionBy: ['event_date', 'event_type'],
              // Batches are spooled and rolled into one file per partition a minute: files are not per batch.
              rollInterval: '1m',
            }),
        {
          ...out.connection,
          topic: out.topics.deadLetters,
          createPartitions: 3,
        },
      ),
    )
}

/**
 * The rows of the warehouse tables, declared: the map that renames a window's fields builds new values, so
 * without this the tables would get the widest type for each value's kind (every number DOUBLE, every
 * string text). Declared, counts are integers, revenue a double precision number (a sum that happens to be
 * whole in the first batch is still a number) and the window times timestamps, in PostgreSQL and DuckDB
 * alike. The parse step checks each row against it, so a row that does not fit is a dead letter.
 */
export const PageMetricsRow = z.object({
  page: z.string(),
  window_start: z.iso.datetime(),
  window_end: z.iso.datetime(),
  views: z.int(),
  clicks: z.int(),
  users: z.int(),
})

export const SessionRow = z.object({
  user_id: z.string(),
  session_start: z.iso.datetime(),
  session_end: z.iso.datetime(),
  events: z.int(),
  pages: z.int(),
  converted: z.boolean(),
  revenue: z.number(),
})

/** page-metrics: views, clicks and approximate unique users per page and minute, updated as they change. */
export function pageMetrics(out: DemoOutputs) {
  return events(out, 'page-metrics')
    .keyBy((e) => e.page.path)
    .window(tumbling('1m'))
    .aggregate(
      aggregates({
        views: sum((e: Event) => (e.event_type === 'page_view' ? 1 : 0)),
        clicks: sum((e: Event) => (e.event_type === 'click' ? 1 : 0)),
        users: approxCountDistinct((e: Event) => e.user_id),
      }),
      { outputMode: 'update' },
    )
    .map((r) => ({
      page: r.key,
      window_start: r.window_start,
      window_end: r.window_end,
      views: r.views,
      clicks: r.clicks,
      users: r.users,
    }))
    .parse(PageMetricsRow, { schemaName: 'page-metrics-row' })
    .to(warehouseSink(out.warehouse, TABLES.pageMetrics, { mode: 'upsert', key: ['page', 'window_start'] }))
}

/**
 * sessions: one row per user session (30 minutes without events ends it), updated while it is open. A
 * session's row is keyed by its start; an out-of-order event that moves the start leaves the old row behind.
 */
export function sessions(out: DemoOutputs) {
  return events(out, 'sessions')
    .keyBy((e) => e.user_id)
    .window(session('30m'))
    .aggregate(
      aggregates({
        last_event: max((e: Event) => Date.parse(e.event_time)),
        events: count<Event>(),
        pages: countDistinct((e: Event) => e.page.path),
        converted: max((e: Event) => (e.event_type === 'purchase' ? 1 : 0)),
        revenue: sum((e: Event) => e.order?.total ?? 0),
      }),
      { outputMode: 'update' },
    )
    .map((r) => ({
      user_id: r.key,
      session_start: r.window_start,
      session_end: r.last_event === null ? r.window_end : new Date(r.last_event).toISOString(),
      events: r.events,
      pages: r.pages,
      converted: r.converted === 1,
      revenue: Math.round(r.revenue * 100) / 100,
    }))
    .parse(SessionRow, { schemaName: 'session-row' })
    .to(warehouseSink(out.warehouse, TABLES.sessions, { mode: 'upsert', key: ['user_id', 'session_start'] }))
}

/**
 * A line of a session's cart: a product added, at its price (EUR). Removing a product from the cart removes
 * its lines (the shop keeps one line per product). A list of lines, not a map by category, so that
 * examples/revenue-alerts.yaml can say the same in CEL.
 */
interface CartLine {
  readonly product: string
  readonly category: string
  readonly value: number
}

export interface CategoryRevenue {
  readonly category: string
  readonly revenue: number
}

export interface RevenueAlert {
  readonly category: string
  readonly kind: 'spike' | 'drop'
  readonly window_start: string
  readonly window_end: string
  readonly revenue: number
  readonly previous_revenue: number
  readonly change: number
}

/** Alerts fire when a window's revenue is at least double, or at most half, the previous window's. */
const SPIKE = 2
const DROP = 0.5
/** Below this previous revenue (EUR) a change is noise, not news. */
const MIN_REVENUE = 100

/**
 * revenue-alerts: orders carry a total, not lines, so each order's total is attributed to the categories in
 * the session's cart, in proportion to their value; one-minute revenue per category (sliding by 10 s) is
 * compared with the previous window, and a spike or drop publishes an alert. At the demo's pace (200 events/s,
 * about 6,000 EUR of orders a minute over ten categories) that is a few alerts a minute.
 */
export function revenueAlerts(out: DemoOutputs) {
  return events(out, 'revenue-alerts')
    .filter(
      (e) =>
        e.event_type === 'add_to_cart' || e.event_type === 'remove_from_cart' || e.event_type === 'purchase',
    )
    .keyBy((e) => e.session_id)
    .process<CartLine[], CategoryRevenue>({
      name: 'attribute-orders',
      init: () => [],
      process: (cart, e, { emit }) => {
        if (e.event_type === 'purchase') {
          const value = cartValue(cart)
          const total = e.order?.total ?? 0
          if (value > 0) {
            for (const category of new Set(cart.map((l) => l.category))) {
              const inCategory = cartValue(cart.filter((l) => l.category === category))
              emit({ category, revenue: (total * inCategory) / value })
            }
          }
          // The cart is empty after a purchase: forget it until the session adds to it again.
          return undefined
        }
        const product = e.product
        if (!product) return cart
        return e.event_type === 'add_to_cart'
          ? [...cart, { product: product.id, category: product.category, value: product.price }]
          : cart.filter((l) => l.product !== product.id)
      },
      ttl: '1h',
    })
    .keyBy((r) => r.category)
    .window(hopping('1m', '10s'))
    .aggregate(sum((r: CategoryRevenue) => r.revenue))
    .keyBy((r) => r.key)
    .process<number | null, RevenueAlert>({
      name: 'compare-windows',
      init: () => null,
      process: (previous, r, { emit }) => {
        const revenue = Math.round(r.value * 100) / 100
        if (previous !== null && previous >= MIN_REVENUE) {
          const change = revenue / previous
          if (change >= SPIKE || change <= DROP) {
            emit({
              category: r.key,
              kind: change >= SPIKE ? 'spike' : 'drop',
              window_start: r.window_start,
              window_end: r.window_end,
              revenue,
              previous_revenue: previous,
              change: Math.round(change * 100) / 100,
            })
          }
        }
        return revenue
      },
      ttl: '1h',
    })
    .to(
      kafkaSink({
        ...out.connection,
        topic: out.topics.alerts,
        key: (a) => a.category,
        deadLetterTopic: out.topics.alertDeadLetters,
        createPartitions: 3,
      }),
    )
}

/** The value of cart lines, added up in order (as CEL's sum() in the YAML twin does). */
function cartValue(lines: readonly CartLine[]): number {
  return lines.reduce((sum, l) => sum + l.value, 0)
}

/** The demo pipelines `sluice start` runs, each with its own checkpoint and consumer group. */
export function demoPipelines(out: DemoOutputs): Pipeline<unknown>[] {
  return [cleanEvents(out), pageMetrics(out), sessions(out), revenueAlerts(out)] as Pipeline<unknown>[]
}

/** Default output locations under the data folder. */
export function defaultOutputs(
  dataDir: string,
  connection: KafkaConnection,
  options: {
    readonly databaseUrl?: string | undefined
    readonly namespace?: string | undefined
    readonly lakeFormat?: 'parquet' | 'iceberg' | undefined
    readonly registry?: RegistryConnection | undefined
  } = {},
): DemoOutputs {
  const namespace = options.namespace ?? ''
  const databaseUrl = options.databaseUrl
  return {
    connection,
    namespace,
    topics: demoTopics(namespace),
    ...lakeLayout(dataDir, options.lakeFormat ?? 'parquet'),
    warehouse: databaseUrl
      ? { kind: 'postgres', url: databaseUrl }
      : { kind: 'duckdb', path: join(dataDir, 'warehouse.duckdb') },
    ...(options.registry ? { registry: options.registry } : {}),
  }
}
