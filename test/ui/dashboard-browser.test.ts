/**
 * The dashboard in a real browser (Debian's chromium, driven by playwright-core) over real pipelines: the
 * clickstream producer writes to a fresh topic with malformed records mixed in, two pipelines read it, and the
 * page must load, draw chart points, count sink rows and list a dead letter with its reason. The screenshot
 * goes to test-artifacts/dashboard.png; with UPDATE_SCREENSHOTS=1 also to docs/dashboard.png (the README's).
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { chromium, type Page } from 'playwright-core'
import { aggregates, count, sum } from '../../src/aggregate/index.ts'
import { type ClickEventRecord, clickEventSchema } from '../../src/clickstream/zod-schema.ts'
import { kafkaSink } from '../../src/connectors/kafka/sink.ts'
import { kafka } from '../../src/connectors/kafka/source.ts'
import { type Pipeline, pipeline } from '../../src/dsl/stream.ts'
import { produceClickstream } from '../../src/producer/produce.ts'
import { run } from '../../src/runtime/run.ts'
import { startMonitor } from '../../src/ui/monitor.ts'
import { tumbling } from '../../src/window/index.ts'
import { brokers, freshTopic } from '../helpers/kafka.ts'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const ROOT = fileURLToPath(new URL('../../', import.meta.url))

const cleanup: (() => Promise<unknown>)[] = []
after(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => {})
})

type Event = ClickEventRecord

function pipelines(topic: string, outputs: { clean: string; metrics: string; dlq: string }) {
  const connection = { brokers: brokers() }
  const events = (id: string) =>
    pipeline(id)
      .from(kafka({ ...connection, topics: topic }))
      .parse(clickEventSchema, { schemaName: 'clickstream-event' })
      .withWatermark('event_time', '30s', { idleTimeout: '30s' })
  const clean = events('clean-events')
    .dedupe((e) => e.event_id, '10m')
    .map((e) => ({ event_id: e.event_id, event_type: e.event_type, user_id: e.user_id, path: e.page.path }))
    .to(kafkaSink({ ...connection, topic: outputs.clean, deadLetterTopic: outputs.dlq, createPartitions: 3 }))
  const metrics = events('page-metrics')
    .keyBy((e) => e.page.path)
    .window(tumbling('1m'))
    .aggregate(
      aggregates({
        views: count<Event>(),
        revenue: sum((e: Event) => e.order?.total ?? 0),
      }),
      { outputMode: 'update' },
    )
    .to(
      kafkaSink({ ...connection, topic: outputs.metrics, deadLetterTopic: outputs.dlq, createPartitions: 3 }),
    )
  return [clean, metrics] as Pipeline<unknown>[]
}

/**
 * Waits until an attribute of the first element matching `selector` is a number at least `min`. Polled from
 * here: the page's Content-Security-Policy (rightly) forbids the string evaluation waitForFunction would use.
 */
async function until(page: Page, selector: string, attribute: string, min: number, timeout = 30_000) {
  const deadline = Date.now() + timeout
  let last: string | null = null
  for (;;) {
    const element = page.locator(selector).first()
    last = (await element.count()) > 0 ? await element.getAttribute(attribute) : null
    if (Number(last) >= min) return
    if (Date.now() > deadline) assert.fail(`${selector} [${attribute}] is ${last}, expected at least ${min}`)
    await page.waitForTimeout(200)
  }
}

test('the dashboard shows live charts, sink rows and dead letters of running pipelines', async (t) => {
  assert.ok(
    existsSync(CHROMIUM),
    `No browser at ${CHROMIUM}: install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH.`,
  )
  const topic = await freshTopic('events', 3)
  const outputs = { clean: `${topic}.clean`, metrics: `${topic}.page-metrics`, dlq: `${topic}.dlq` }
  const dir = await mkdtemp(join(tmpdir(), 'sluice-dashboard-'))
  cleanup.push(() => rm(dir, { recursive: true, force: true }))

  const all = pipelines(topic, outputs)
  const monitor = await startMonitor({ port: 0, pipelines: all })
  cleanup.push(() => monitor.close())

  const stop = new AbortController()
  cleanup.push(async () => stop.abort())
  const producing = produceClickstream({
    seed: 7,
    // The simulated clock advances a second per users/100 events: at 300 events/s, 30 000 users keep it on time.
    users: 30_000,
    startTime: Date.now(),
    rate: 300,
    bad: 0.02,
    late: 0.01,
    dupes: 0.01,
    durationMs: 60_000,
    destination: { kind: 'kafka', brokers: brokers(), topic, createTopic: false },
    signal: stop.signal,
  })
  const running = all.map((p) =>
    run(p, {
      checkpoint: join(dir, p.plan.pipelineId),
      trigger: { kind: 'processingTime', intervalMs: 1000 },
      signal: stop.signal,
      ...monitor.hooks,
    }),
  )

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
  cleanup.push(() => browser.close())
  const page = await browser.newPage({ viewport: { width: 1360, height: 900 }, deviceScaleFactor: 1 })
  const problems: string[] = []
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`))
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`)
  })
  await page.goto(monitor.url)

  // The operator graphs of both pipelines, from their plans.
  await page.waitForSelector('article[data-pipeline="page-metrics"] .op.window')
  const kinds = await page.$$eval('article[data-pipeline="clean-events"] .op .kind', (nodes) =>
    nodes.map((n) => n.textContent),
  )
  assert.deepEqual(kinds, ['source', 'parse', 'watermark', 'dedupe', 'map', 'sink'])

  // Charts receive points: the page counts ticks, and the throughput chart has drawn a non-zero rate.
  await until(page, 'main', 'data-points', 3)
  await until(page, '#chart-throughput', 'data-max-value', 1)
  assert.equal(await page.locator('.chart canvas').count(), 4, 'four uPlot charts')

  // Sink row counts.
  await until(page, 'article[data-pipeline="clean-events"] [data-sink-rows]', 'data-sink-rows', 1)

  // A dead letter with its reason: malformed records are 2 % of what is produced.
  const row = page.locator('#dead-letter-rows tr[data-operator]').first()
  await row.waitFor({ timeout: 30_000 })
  const reason = await row.locator('td.reason').textContent()
  assert.match(
    reason ?? '',
    /malformed JSON|invalid UTF-8|schema violation|late|event time/,
    `a reason is shown: ${reason}`,
  )
  assert.match((await row.locator('td').nth(4).textContent()) ?? '', new RegExp(`^${topic}:\\d@\\d+$`))

  // Let the charts fill a little for the picture, then keep it.
  await until(page, 'main', 'data-points', 15, 60_000)
  const artifact = join(ROOT, 'test-artifacts', 'dashboard.png')
  await mkdir(join(ROOT, 'test-artifacts'), { recursive: true })
  await page.screenshot({ path: artifact, fullPage: true })
  if (process.env.UPDATE_SCREENSHOTS === '1') await copyFile(artifact, join(ROOT, 'docs', 'dashboard.png'))
  t.diagnostic(`screenshot: ${artifact}`)
  assert.deepEqual(problems, [], 'no errors in the page')

  stop.abort()
  const produced = await producing
  assert.ok(produced.bad > 0, 'malformed records were produced')
  await Promise.all(running)
})
