import assert from 'node:assert/strict'
import { test } from 'node:test'
import { TestDriver } from 'sluice'
import { pageMetrics } from '../../examples/page-metrics.ts'

const T0 = Date.parse('2026-11-25T10:00:00Z')
const at = (s: number) => new Date(T0 + s * 1000).toISOString()

test('the README example computes per-page minute metrics, counting a duplicate once and only page views as views', async () => {
  const driver = await TestDriver.create(pageMetrics, { startTime: T0 })
  const event = (id: string, type: string, s: number, user: string, path: string, total?: number) =>
    JSON.stringify({
      event_id: id,
      event_type: type,
      event_time: at(s),
      user_id: user,
      page: { path },
      ...(total ? { order: { total } } : {}),
    })
  driver.send([
    event('e1', 'page_view', 1, 'u1', '/'),
    event('e2', 'click', 2, 'u1', '/'),
    event('e2', 'click', 2, 'u1', '/'), // redelivered duplicate
    event('e4', 'page_view', 2, 'u3', '/'),
    event('e5', 'add_to_cart', 3, 'u3', '/'), // neither a view nor a click
    event('e3', 'purchase', 3, 'u2', '/checkout', 99.5),
    '{"event_id": 42}',
  ])
  driver.runBatch()
  assert.deepEqual(
    driver.output.map((r) => [
      r.page,
      r.window_start,
      r.page_views,
      r.clicks,
      r.order_revenue,
      r.approx_unique_users,
    ]),
    [
      ['/', at(0), 2, 1, 0, 2],
      ['/checkout', at(0), 0, 0, 99.5, 1],
    ],
  )
  assert.deepEqual(Object.keys(driver.output[0]!).sort(), [
    'approx_unique_users',
    'clicks',
    'order_revenue',
    'page',
    'page_views',
    'window_end',
    'window_start',
  ])
  assert.equal(driver.deadLetters.length, 1)
  assert.match(driver.deadLetters[0]!.reason, /^schema violation/)
})
