/** The pipelines the benchmark measures, written as a user of Sluice would write them. */

import { readFileSync } from 'node:fs'
import { aggregates, approxCountDistinct, count, sum } from '../../src/aggregate/index.ts'
import type { ClickEvent } from '../../src/clickstream/event.ts'
import { kafkaSink } from '../../src/connectors/kafka/sink.ts'
import { kafka } from '../../src/connectors/kafka/source.ts'
import { fromJsonSchema } from '../../src/dsl/parse.ts'
import { type Pipeline, pipeline } from '../../src/dsl/stream.ts'
import { registry } from '../../src/registry/registry-parser.ts'
import { session, tumbling } from '../../src/window/index.ts'
import { type BenchClickEvent, clickEventSchema, stateRecordSchema } from './schema.ts'

export interface PipelineTopics {
  readonly id: string
  readonly brokers: string
  readonly input: string
  readonly output: string
  readonly deadLetters: string
  /** Where a new group starts; 'earliest' for a backlog. */
  readonly startingOffsets?: 'earliest' | 'latest'
}

/** Output topics are created by the sink with this many partitions. */
const OUTPUT_PARTITIONS = 4

/** The projection of (a): a flat row of the fields downstream consumers use. */
export interface ProjectedClick {
  readonly event_id: string
  readonly event_type: string
  readonly event_time: string
  readonly user_id: string
  readonly session_id: string
  readonly platform: string
  readonly country: string
  readonly path: string
  readonly product_id: string | null
  readonly price: number | null
}

/** How the pipelines validate: the benchmark's Zod schema, or the repository's JSON Schema compiled by ajv. */
export type Validator = 'zod' | 'json-schema'

/**
 * schemas/clickstream-event.schema.json, the event's published contract: stricter than the Zod schema of
 * bench/lib/schema.ts (additionalProperties: false, the if/then rules between event_type and the optional
 * objects), typed with the generator's ClickEvent.
 */
function clickEventJsonSchema() {
  const url = new URL('../../schemas/clickstream-event.schema.json', import.meta.url)
  return fromJsonSchema<ClickEvent>(JSON.parse(readFileSync(url, 'utf8')) as Record<string, unknown>)
}

/** The fields project() reads: both validators' types have them. */
type Projectable = Pick<
  ClickEvent,
  'event_id' | 'event_type' | 'event_time' | 'user_id' | 'session_id' | 'platform' | 'country'
> & {
  readonly page: { readonly path: string }
  readonly product?: { readonly id: string; readonly price: number } | undefined
}

export function project(e: Projectable): ProjectedClick {
  return {
    event_id: e.event_id,
    event_type: e.event_type,
    event_time: e.event_time,
    user_id: e.user_id,
    session_id: e.session_id,
    platform: e.platform,
    country: e.country,
    path: e.page.path,
    product_id: e.product?.id ?? null,
    price: e.product?.price ?? null,
  }
}

/** (a) parse + validate + project to a Kafka topic, exactly-once (one transaction per batch). */
export function etlPipeline(t: PipelineTopics, validator: Validator = 'zod'): Pipeline<ProjectedClick> {
  const source = pipeline(t.id).from(
    kafka({ topics: t.input, brokers: t.brokers, startingOffsets: t.startingOffsets ?? 'earliest' }),
  )
  const projected =
    validator === 'json-schema'
      ? source.parse(clickEventJsonSchema()).map(project)
      : source.parse(clickEventSchema).map(project)
  return projected.to(
    kafkaSink({
      topic: t.output,
      brokers: t.brokers,
      deadLetterTopic: t.deadLetters,
      createPartitions: OUTPUT_PARTITIONS,
      key: (r) => r.user_id,
    }),
  )
}

/**
 * (a) on Avro: the same events in Avro in the Confluent wire format, decoded through the schema registry
 * (`parse(registry())`, the schema fetched once by id), then the same projection and sink as etl. Avro's
 * decoding checks the types; the Zod schema's id regexes and enums are not applied.
 */
export function etlAvroPipeline(t: PipelineTopics, registryUrl: string): Pipeline<ProjectedClick> {
  return pipeline(t.id)
    .from(kafka({ topics: t.input, brokers: t.brokers, startingOffsets: t.startingOffsets ?? 'earliest' }))
    .parse(registry<AvroClickEvent>({ url: registryUrl }))
    .map((e) => project({ ...e, product: e.product ?? undefined }))
    .to(
      kafkaSink({
        topic: t.output,
        brokers: t.brokers,
        deadLetterTopic: t.deadLetters,
        createPartitions: OUTPUT_PARTITIONS,
        key: (r) => r.user_id,
      }),
    )
}

/** The event as Avro decodes it: absent optional fields are null. */
type AvroClickEvent = Omit<Projectable, 'product'> & {
  readonly product: { readonly id: string; readonly price: number } | null
}

/** (b) one-minute tumbling count and approximate distinct users per page, with a watermark, update mode. */
export function windowPipeline(t: PipelineTopics) {
  return pipeline(t.id)
    .from(kafka({ topics: t.input, brokers: t.brokers }))
    .parse(clickEventSchema)
    .withWatermark('event_time', '10s')
    .keyBy((e) => e.page.path)
    .window(tumbling('1m'))
    .aggregate(
      aggregates({ views: count(), users: approxCountDistinct((e: BenchClickEvent) => e.user_id) }),
      { outputMode: 'update' },
    )
    .to(
      kafkaSink({
        topic: t.output,
        brokers: t.brokers,
        deadLetterTopic: t.deadLetters,
        createPartitions: OUTPUT_PARTITIONS,
      }),
    )
}

/**
 * (c) session windows per user (30-minute gap): events and order revenue per session, append mode (a
 * session is written once, when the watermark passes its end).
 */
export function sessionsPipeline(t: PipelineTopics, options: { partitioned?: boolean } = {}) {
  return (
    pipeline(t.id)
      .from(kafka({ topics: t.input, brokers: t.brokers }))
      .parse(clickEventSchema)
      .withWatermark('event_time', '10s')
      // The clickstream's record key is the user id: declared, the sessions scale out (sessions-workers).
      .keyBy((e) => e.user_id, options.partitioned ? { partitioned: true } : {})
      .window(session('30m'))
      .aggregate(aggregates({ events: count(), revenue: sum((e: BenchClickEvent) => e.order?.total ?? 0) }), {
        outputMode: 'append',
      })
      .to(
        kafkaSink({
          topic: t.output,
          brokers: t.brokers,
          deadLetterTopic: t.deadLetters,
          createPartitions: OUTPUT_PARTITIONS,
        }),
      )
  )
}

/**
 * 1M live window keys: every record a distinct key, all in one day-long tumbling window that the watermark
 * never closes, so every (key, window) stays in state. Append mode: nothing is emitted.
 */
export function statePipeline(t: PipelineTopics) {
  return pipeline(t.id)
    .from(kafka({ topics: t.input, brokers: t.brokers }))
    .parse(stateRecordSchema)
    .withWatermark('t', '10s')
    .keyBy((r) => r.k)
    .window(tumbling('1d'))
    .aggregate(aggregates({ n: count(), total: sum((r: { v: number }) => r.v) }), { outputMode: 'append' })
    .to(
      kafkaSink({
        topic: t.output,
        brokers: t.brokers,
        deadLetterTopic: t.deadLetters,
        createPartitions: OUTPUT_PARTITIONS,
      }),
    )
}
