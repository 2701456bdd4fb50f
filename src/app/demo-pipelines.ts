import { aggregates, approxCountDistinct, count, countDistinct, max, sum } from '../aggregate/index.ts'
import { catalogueRows } from '../clickstream/catalogue.ts'
import { type ClickEventRecord, clickEventSchema } from '../clickstream/zod-schema.ts'
import type { KafkaConnection } from '../connectors/kafka/connection.ts'
import { kafkaSink } from '../connectors/kafka/sink.ts'
import { kafka } from '../connectors/kafka/source.ts'
import { staticTable } from '../connectors/tables/static-table.ts'
import { type Pipeline, pipeline } from '../dsl/stream.ts'
import { session, tumbling } from '../window/index.ts'

export const TOPICS = {
  events: 'events',
  deadLetters: 'events.dlq',
  clean: 'events.clean',
  pageMetrics: 'page-metrics',
  sessions: 'sessions',
} as const

type Event = ClickEventRecord

/** Lower-cased UTM fields and the URL reduced to its path: what analysts group by. */
function normalise(e: Event) {
  return {
    event_id: e.event_id,
    event_type: e.event_type,
    event_time: e.event_time,
    user_id: e.user_id,
    session_id: e.session_id,
    platform: e.platform,
    country: e.country,
    path: new URL(e.page.url).pathname,
    utm_source: e.utm?.source.toLowerCase() ?? null,
    utm_medium: e.utm?.medium.toLowerCase() ?? null,
    utm_campaign: e.utm?.campaign.toLowerCase() ?? null,
    product_id: e.product?.id ?? null,
    order_total: e.order?.total ?? null,
  }
}

const products = staticTable('products', catalogueRows(), (p) => p.id)

function events(connection: KafkaConnection, id: string) {
  return pipeline(id)
    .from(kafka({ ...connection, topics: TOPICS.events, instanceId: `${id}-0` }))
    .parse(clickEventSchema, { schemaName: 'clickstream-event' })
    .withWatermark('event_time', '30s', { idleTimeout: '30s' })
}

/** The demo pipelines `sluice start` runs, each exactly-once from `events` to its own topic. */
export function demoPipelines(connection: KafkaConnection): Pipeline<unknown>[] {
  const sink = { ...connection, deadLetterTopic: TOPICS.deadLetters, createPartitions: 3 }

  const cleanEvents = events(connection, 'clean-events')
    .dedupe((e) => e.event_id, '10m')
    .map(normalise)
    .join(
      products,
      (e) => e.product_id,
      (e, p) => ({ ...e, product_category: p?.category ?? null, product_name: p?.name ?? null }),
      { how: 'left' },
    )
    .to(kafkaSink({ ...sink, topic: TOPICS.clean, key: (e) => e.user_id }))

  const pageMetrics = events(connection, 'page-metrics')
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
    .to(kafkaSink({ ...sink, topic: TOPICS.pageMetrics }))

  const sessions = events(connection, 'sessions')
    .keyBy((e) => e.user_id)
    .window(session('30m'))
    .aggregate(
      aggregates({
        events: count<Event>(),
        pages: countDistinct((e: Event) => e.page.path),
        converted: max((e: Event) => (e.event_type === 'purchase' ? 1 : 0)),
        revenue: sum((e: Event) => e.order?.total ?? 0),
      }),
    )
    .to(kafkaSink({ ...sink, topic: TOPICS.sessions }))

  return [cleanEvents, pageMetrics, sessions] as Pipeline<unknown>[]
}
