/**
 * What `sluice init` writes: a starter pipeline and its test, both passing as written (test/cli/init.test.ts
 * runs them). The input events are two real ones of `sluice produce --seed 7 --users 3`.
 */

const YAML_PIPELINE = `# A starter pipeline: page views and clicks per page and minute, from the clickstream that
# \`npx sluice produce --topic events\` writes. Check it, test it, run it:
#   npx sluice lint pipeline.yaml
#   npx sluice test pipeline.test.yaml
#   npx sluice run pipeline.yaml --available-now
pipeline: starter
source:
  kafka: { topics: events, startingOffsets: earliest }
schema: clickstream-event # the fields expressions read are checked against it when the file loads
watermark: { field: event_time, delay: 30s, idleTimeout: 30s }
steps:
  - filter: "event.event_type in ['page_view', 'click']"
  - keyBy: event.page.path
  - window: { tumbling: 1m }
  - aggregate:
      outputMode: append # a row per page and minute, once the minute is over
      fields:
        views: { sum: "event.event_type == 'page_view' ? 1 : 0" }
        clicks: { sum: "event.event_type == 'click' ? 1 : 0" }
  - map: { page: event.key, minute: event.window_start, views: event.views, clicks: event.clicks }
sink:
  console: {}
`

const YAML_TEST = `# Tests of pipeline.yaml: npx sluice test pipeline.test.yaml
# Each test sends its input (record values as Kafka delivers them: JSON text, or a YAML mapping) as one
# batch, then ends the input (every window closes), and compares every row, in order, and the dead letters.
pipeline: pipeline.yaml # relative to this file
tests:
  - name: a view and a click on one page in one minute
    startTime: 2026-11-25T10:00:30Z # the clock (default: the first record's time, else 1970)
    input:
      - value: '{"schema_version":1,"event_id":"e5ff5a03-ff97-42b7-a52f-a865c2476885","event_type":"page_view","event_time":"2026-11-25T10:00:25.306Z","user_id":"u-000003","anonymous_id":"a-ec7711d61be6","session_id":"s-e4282ad1206319ac","platform":"ios","device":{"type":"mobile","os":"iOS 18.5","app_version":"5.13.2"},"country":"DE","page":{"url":"https://shop.example.com/","path":"/","referrer":null,"title":"Sluice Shop"},"utm":null}'
        key: u-000003 # optional, as are time (the record's timestamp)
      - value: '{"schema_version":1,"event_id":"43960265-1196-451a-be7c-3b8caddb4f88","event_type":"click","event_time":"2026-11-25T10:00:24.760Z","user_id":"u-000003","anonymous_id":"a-ec7711d61be6","session_id":"s-e4282ad1206319ac","platform":"ios","device":{"type":"mobile","os":"iOS 18.5","app_version":"5.13.2"},"country":"DE","page":{"url":"https://shop.example.com/","path":"/","referrer":null,"title":"Sluice Shop"},"utm":null,"product":{"id":"p-0428","name":"Organic Jacket","category":"fashion","price":175.99}}'
        key: u-000003
    output:
      - { page: /, minute: "2026-11-25T10:00:00.000Z", views: 1, clicks: 1 }
  - name: a record the schema refuses is a dead letter
    input:
      - value: '{"event_type": "click"}'
    output: []
    deadLetters: [schema violation] # a part of each reason
`

const TS_PIPELINE = `/**
 * A starter pipeline: page views and clicks per page and minute, from the clickstream that
 * \`npx sluice produce --topic events\` writes, printed as JSON lines. Test it with \`node --test\`, run it with
 * \`npx sluice run pipeline.ts --available-now\`.
 */
import { aggregates, clickEventSchema, console, count, kafka, pipeline, tumbling } from 'sluice'

export const starter = pipeline('starter')
  .from(kafka({ topics: 'events', startingOffsets: 'earliest' }))
  .parse(clickEventSchema) // records it refuses are dead letters, with the reason
  .withWatermark('event_time', '30s', { idleTimeout: '30s' })
  .filter((e) => e.event_type === 'page_view' || e.event_type === 'click')
  .keyBy((e) => e.page.path)
  .window(tumbling('1m'))
  .aggregate(
    aggregates({
      views: count((e: { event_type: string }) => e.event_type === 'page_view'),
      clicks: count((e: { event_type: string }) => e.event_type === 'click'),
    }),
    { outputMode: 'append' }, // a row per page and minute, once the minute is over
  )
  .map(({ key, window_start, views, clicks }) => ({ page: key, minute: window_start, views, clicks }))
  .to(console())

export default starter
`

const TS_TEST = `import assert from 'node:assert/strict'
import { test } from 'node:test'
import { TestDriver } from 'sluice'
import { starter } from './pipeline.ts'

// Record values as Kafka delivers them (JSON text); the driver needs no broker and has a manual clock.
const view = '{"schema_version":1,"event_id":"e5ff5a03-ff97-42b7-a52f-a865c2476885","event_type":"page_view","event_time":"2026-11-25T10:00:25.306Z","user_id":"u-000003","anonymous_id":"a-ec7711d61be6","session_id":"s-e4282ad1206319ac","platform":"ios","device":{"type":"mobile","os":"iOS 18.5","app_version":"5.13.2"},"country":"DE","page":{"url":"https://shop.example.com/","path":"/","referrer":null,"title":"Sluice Shop"},"utm":null}'
const click = '{"schema_version":1,"event_id":"43960265-1196-451a-be7c-3b8caddb4f88","event_type":"click","event_time":"2026-11-25T10:00:24.760Z","user_id":"u-000003","anonymous_id":"a-ec7711d61be6","session_id":"s-e4282ad1206319ac","platform":"ios","device":{"type":"mobile","os":"iOS 18.5","app_version":"5.13.2"},"country":"DE","page":{"url":"https://shop.example.com/","path":"/","referrer":null,"title":"Sluice Shop"},"utm":null,"product":{"id":"p-0428","name":"Organic Jacket","category":"fashion","price":175.99}}'

test('a view and a click on one page in one minute make one row', async () => {
  const driver = await TestDriver.create(starter, { startTime: Date.parse('2026-11-25T10:00:30Z') })
  driver.send([view, click], { key: 'u-000003' })
  driver.runBatch()
  driver.endInput() // the input ends: every window closes
  assert.deepEqual(JSON.parse(JSON.stringify(driver.output)), [
    { page: '/', minute: '2026-11-25T10:00:00.000Z', views: 1, clicks: 1 },
  ])
  assert.deepEqual(driver.deadLetters, [])
})

test('a record the schema refuses is a dead letter', async () => {
  const driver = await TestDriver.create(starter)
  driver.send('{"event_type": "click"}')
  driver.runBatch()
  driver.endInput()
  assert.deepEqual(driver.output, [])
  assert.match(driver.deadLetters[0]?.reason ?? '', /schema violation/)
})
`

/** File name to content, the pipeline first, then its test. */
export function starterFiles(yaml: boolean): Readonly<Record<string, string>> {
  return yaml
    ? { 'pipeline.yaml': YAML_PIPELINE, 'pipeline.test.yaml': YAML_TEST }
    : { 'pipeline.ts': TS_PIPELINE, 'pipeline.test.ts': TS_TEST }
}
