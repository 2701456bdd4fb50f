/**
 * The dashboard in a real browser (Debian's chromium, driven by playwright-core) over real pipelines: the
 * clickstream producer writes to a fresh topic with malformed records mixed in, two pipelines read it, and the
 * page must load, draw chart points, count sink rows and list a dead letter with its reason, at 1,280 and
 * 1,920 px wide with every chart inside the window, and show the records of a tapped operator. The
 * screenshots go to test-artifacts/; with UPDATE_SCREENSHOTS=1 also to docs/ (the README's).
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { type Browser, chromium, type Page } from 'playwright-core'
import { aggregates, count, sum } from '../../src/aggregate/index.ts'
import { type ClickEventRecord, clickEventSchema } from '../../src/clickstream/zod-schema.ts'
import { kafkaSink } from '../../src/connectors/kafka/sink.ts'
import { kafka } from '../../src/connectors/kafka/source.ts'
import { memory } from '../../src/connectors/testing/memory.ts'
import { type Pipeline, pipeline } from '../../src/dsl/stream.ts'
import { produceClickstream } from '../../src/producer/produce.ts'
import { LATENCY_BUCKETS_MS } from '../../src/runtime/latency.ts'
import type { BatchProgress } from '../../src/runtime/progress.ts'
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
    .name('slim')
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
  // As long as the demo's revenue-alerts and longer: its operators are wider than a 1,280 px window.
  let long = events('long-chain')
  for (const step of [
    'only-real-users',
    'with-session-attributes',
    'with-geo-lookup-result',
    'with-campaign',
  ])
    long = long.filter(() => true).name(step)
  const chain = long
    .map((e) => ({ id: e.event_id }))
    .name('projected-for-the-audit')
    .to(memory())
  return [clean, metrics, chain] as Pipeline<unknown>[]
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

async function launch(): Promise<Browser> {
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
  return browser
}

async function open(browser: Browser, url: string, width: number, problems: string[]): Promise<Page> {
  const page = await browser.newPage({ viewport: { width, height: 900 }, deviceScaleFactor: 1 })
  page.on('pageerror', (error) => problems.push(`page error at ${width} px: ${error.message}`))
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console at ${width} px: ${message.text()}`)
  })
  await page.goto(url)
  return page
}

/** Every chart, its canvas included, lies within the window's width, and nothing scrolls sideways. */
async function chartsInside(page: Page, width: number): Promise<void> {
  const boxes = await page.$$eval('.chart, .chart canvas', (nodes) =>
    nodes.map((n) => {
      const r = n.getBoundingClientRect()
      return { id: n.id || n.tagName, left: r.left, right: r.right }
    }),
  )
  assert.equal(boxes.length, 8, 'four charts and their canvases')
  for (const box of boxes)
    assert.ok(box.left >= 0 && box.right <= width, `${box.id} spans ${box.left}–${box.right} px of ${width}`)
  const scrollWidth = await page.$eval('html', (html) => html.scrollWidth)
  assert.ok(scrollWidth <= width, `the page is ${scrollWidth} px wide in a ${width} px window`)
}

/** Clicks an operator and waits for the tap to list its records; `check` is given each one, parsed. */
async function tapShows(
  page: Page,
  pipelineId: string,
  operator: string,
  check: (record: Record<string, unknown>) => void,
): Promise<void> {
  await page.locator(`article[data-pipeline="${pipelineId}"] button.op[data-operator="${operator}"]`).click()
  await until(page, '#tap', 'data-records', 1, 60_000)
  assert.equal(await page.locator('#tap').getAttribute('data-operator'), operator)
  const texts = await page.locator('#tap-records li pre').allTextContents()
  assert.ok(texts.length > 0)
  assert.equal(await page.locator(`#tap-records li:not([data-operator="${operator}"])`).count(), 0)
  for (const text of texts) check(JSON.parse(text) as Record<string, unknown>)
}

async function keep(t: { diagnostic(message: string): void }, page: Page, name: string): Promise<void> {
  const artifact = join(ROOT, 'test-artifacts', name)
  await mkdir(join(ROOT, 'test-artifacts'), { recursive: true })
  await page.screenshot({ path: artifact, fullPage: true })
  if (process.env.UPDATE_SCREENSHOTS === '1') await copyFile(artifact, join(ROOT, 'docs', name))
  t.diagnostic(`screenshot: ${artifact}`)
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
    // Longer than the test: it stops producing when the test ends (both widths and taps need records).
    durationMs: 600_000,
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

  const browser = await launch()
  const problems: string[] = []
  const page = await open(browser, monitor.url, 1920, problems)

  // The operator graphs of both pipelines, from their plans.
  await page.waitForSelector('article[data-pipeline="page-metrics"] .op.window')
  const kinds = await page.$$eval('article[data-pipeline="clean-events"] .op .kind', (nodes) =>
    nodes.map((n) => n.textContent),
  )
  assert.deepEqual(kinds, ['source', 'parse', 'watermark', 'dedupe', 'map', 'sink'])
  // The step's own name, not a derived one.
  assert.equal(
    await page.locator('article[data-pipeline="clean-events"] .op.map').getAttribute('data-operator'),
    'slim',
  )

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

  // Health, the processing rate and the last batches of each pipeline.
  await page.waitForSelector(
    'article[data-pipeline="clean-events"] .health[data-health="running"], article[data-pipeline="clean-events"] .health[data-health="catching up"]',
  )
  await page.locator('article[data-pipeline="page-metrics"] details.batches summary').click()
  await page.locator('article[data-pipeline="page-metrics"] details.batches tr[data-batch]').first().waitFor()

  // The group panel: the pipeline's consumer group as the broker shows it, here one member (this process)
  // owning the topic's three partitions, each with the group's lag.
  const partitions = [0, 1, 2].map((p) => `${topic}:${p}`).join(',')
  const member = page.locator(
    `article[data-pipeline="clean-events"] .group .member[data-partitions="${partitions}"]`,
  )
  await member.waitFor({ timeout: 60_000 })
  assert.equal(await page.locator('article[data-pipeline="clean-events"] .group .member').count(), 1)
  assert.match(
    (await member.locator('.member-head').textContent()) ?? '',
    new RegExp(`pid ${process.pid} · 3 tasks`),
  )
  assert.equal(await member.locator('.part[data-lag]').count(), 3)

  // The live tap: the records the map named "slim" emits, which only it shapes this way.
  await tapShows(page, 'clean-events', 'slim', (record) =>
    assert.deepEqual(Object.keys(record).sort(), ['event_id', 'event_type', 'path', 'user_id']),
  )
  await until(page, 'main', 'data-points', 15, 60_000)
  await chartsInside(page, 1920)
  await keep(t, page, 'dashboard.png')

  // The same at 1,280 px, the tap on a window this time (its rows close once a minute: the sink's instead).
  const narrow = await open(browser, monitor.url, 1280, problems)
  await until(narrow, 'main', 'data-points', 3)
  await chartsInside(narrow, 1280)
  await narrow.locator('article[data-pipeline="clean-events"] .group .member').first().waitFor()
  for (const box of await narrow.$$eval('.group', (nodes) =>
    nodes.map((n) => n.getBoundingClientRect().right),
  ))
    assert.ok(box <= 1280, `a group panel ends at ${box} px of 1,280`)
  await tapShows(narrow, 'page-metrics', 'keyBy', (record) => assert.equal(typeof record.page, 'object'))
  await keep(t, narrow, 'dashboard-1280.png')
  assert.deepEqual(problems, [], 'no errors in the page')

  stop.abort()
  const produced = await producing
  assert.ok(produced.bad > 0, 'malformed records were produced')
  await Promise.all(running)
})

function progress(batchId: number, p50Ms: number): BatchProgress {
  return {
    pipelineId: 'restarted',
    batchId,
    timestamp: new Date().toISOString(),
    inputRows: 100,
    inputRowsPerSecond: 100,
    processedRowsPerSecond: 5000,
    outputRows: 100,
    deadLetteredRows: 0,
    lateRows: 0,
    duplicateRows: 0,
    durationMs: { poll: 5, process: 10, checkpoint: 2, sink: 3, total: 20 },
    watermark: null,
    stateRows: 0,
    stateBytes: 0,
    sourceLag: undefined,
    sourceUnit: 'records',
    sourceRead: 100,
    replayed: false,
    latency: {
      count: 100,
      sumMs: p50Ms * 100,
      p50Ms,
      p99Ms: p50Ms,
      maxMs: p50Ms,
      buckets: [...LATENCY_BUCKETS_MS.map(() => 0), 100],
    },
  }
}

test('after a catch-up of 480 s, a latency of 200 ms still reads on the latency chart', async () => {
  const monitor = await startMonitor({ port: 0, processMetrics: false, tickMs: 100 })
  cleanup.push(() => monitor.close())
  const browser = await launch()
  const problems: string[] = []
  const page = await open(browser, monitor.url, 1280, problems)
  await page.waitForSelector('#status[data-state="live"]')
  // The catch-up after a restart: one batch of records 8 minutes old; then the pipeline is current.
  monitor.observe(progress(0, 480_000))
  await until(page, '#chart-latency', 'data-max-value', 480_000)
  // The catch-up lasts a few points on the chart, as batches of old records do after a restart.
  const pointsBefore = Number(await page.locator('main').getAttribute('data-points'))
  await until(page, 'main', 'data-points', pointsBefore + 5)
  monitor.observe(progress(1, 200))
  // The chart keeps the catch-up and draws today's 200 ms well above the floor (linear: 0.04 % of the height).
  const deadline = Date.now() + 30_000
  for (;;) {
    const height = Number(await page.locator('#chart-latency').getAttribute('data-latest-height'))
    const max = Number(await page.locator('#chart-latency').getAttribute('data-max-value'))
    if (max >= 480_000 && (await latestIs(monitor.url, 200)) && height > 0.25) break
    if (Date.now() > deadline) assert.fail(`200 ms drawn at ${height} of the chart's height (max ${max})`)
    await page.waitForTimeout(100)
  }
  assert.deepEqual(problems, [])
})

/** Whether the latency chart's newest point is `ms` (the page's last tick has it). */
async function latestIs(url: string, ms: number): Promise<boolean> {
  const snapshot: unknown = await fetch(`${url}api/snapshot`).then((r) => r.json())
  const ticks = (snapshot as { ticks: { points: Record<string, { p50: number | null }> }[] }).ticks
  return ticks.at(-1)?.points.restarted?.p50 === ms
}
