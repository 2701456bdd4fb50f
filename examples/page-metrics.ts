/**
 * Page metrics from the clickstream: views, clicks, revenue and unique users per page and minute,
 * exactly once into a Kafka topic. Run it with `npx sluice run examples/page-metrics.ts` or `node` directly.
 */

import {
  aggregates,
  approxCountDistinct,
  count,
  kafka,
  kafkaSink,
  pipeline,
  run,
  sum,
  triggers,
  tumbling,
} from 'sluice'
import { z } from 'zod'

// The schema types every later step: a typo in a field name below is a compile error.
const ClickEvent = z.object({
  event_id: z.string(),
  event_type: z.string(),
  event_time: z.iso.datetime(),
  user_id: z.string(),
  page: z.object({ path: z.string() }),
  order: z.object({ total: z.number() }).optional(),
})
type ClickEvent = z.infer<typeof ClickEvent>

export const pageMetrics = pipeline('page-metrics')
  .from(kafka({ topics: 'events', startingOffsets: 'earliest' }))
  .parse(ClickEvent) // bad records go to the dead-letter topic below, with the reason
  .withWatermark('event_time', '30s', { idleTimeout: '1m' })
  .dedupe((e) => e.event_id, '10m')
  .keyBy((e) => e.page.path)
  .window(tumbling('1m'))
  .aggregate(
    aggregates({
      views: count<ClickEvent>(),
      clicks: sum((e: ClickEvent) => (e.event_type === 'click' ? 1 : 0)),
      revenue: sum((e: ClickEvent) => e.order?.total ?? 0),
      users: approxCountDistinct((e: ClickEvent) => e.user_id),
    }),
    { outputMode: 'update' },
  )
  .to(kafkaSink({ topic: 'page-metrics', deadLetterTopic: 'events.dlq', createPartitions: 3 }))

if (import.meta.main) {
  const stop = new AbortController()
  process.once('SIGINT', () => stop.abort())
  await run(pageMetrics, {
    checkpoint: 'data/checkpoints/page-metrics',
    trigger: triggers.processingTime('1s'),
    signal: stop.signal,
    onProgress: (p) =>
      console.error(`batch ${p.batchId}: ${p.inputRows} in, ${p.outputRows} out, watermark ${p.watermark}`),
  })
}
