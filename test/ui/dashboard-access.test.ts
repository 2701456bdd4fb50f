import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { after, test } from 'node:test'
import { chromium } from 'playwright-core'
import { z } from 'zod'
import { memory } from '../../src/connectors/testing/memory.ts'
import { memorySource } from '../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { type Monitor, startMonitor } from '../../src/ui/monitor.ts'

/**
 * The dashboard answers only requests naming it (issue 14, item 4): no web page reads its dead letters through
 * DNS rebinding, and bound to another address than loopback it needs a token.
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const cleanup: (() => Promise<void>)[] = []
after(async () => {
  for (const fn of cleanup.reverse()) await fn()
})

const clicks = pipeline('clicks')
  .from(memorySource('clicks'))
  .parse(z.object({ user: z.string() }), { schemaName: 'Click' })
  .to(memory())

const SECRET = 'card=4111-1111-1111-1111'

async function monitor(options: Parameters<typeof startMonitor>[0] = {}): Promise<Monitor> {
  const m = await startMonitor({ port: 0, processMetrics: false, pipelines: [clicks], ...options })
  cleanup.push(() => m.close())
  m.deadLetters(
    [
      {
        reason: 'malformed JSON',
        operator: 'parse-1',
        partition: 'events:0',
        offset: 1,
        key: null,
        raw: Buffer.from(`{"${SECRET}"`),
        timestamp: Date.now(),
      },
    ],
    { pipelineId: 'clicks', batchId: 0 },
  )
  return m
}

interface Answer {
  readonly status: number
  readonly headers: Record<string, string | string[] | undefined>
  readonly body: string
}

/** A GET to 127.0.0.1 with the Host header (and others) given: fetch does not let a caller set Host. */
function get(
  port: number,
  path: string,
  headers: { host: string } & Record<string, string>,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // An empty host sends none (Node would add its own).
    const { host, ...rest } = headers
    const options = host ? { headers: { host, ...rest } } : { headers: rest, setHost: false }
    const req = httpRequest({ host: '127.0.0.1', port, path, ...options }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      )
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

test('the DNS-rebinding request of issue 14 is refused, without dead-letter contents', async () => {
  const m = await monitor()
  const evil = await get(m.port, '/api/snapshot', { host: 'evil.example' })
  assert.equal(evil.status, 421)
  assert.doesNotMatch(evil.body, /4111/)
  assert.match(evil.body, /^Host "evil\.example" is not this dashboard's address/)
  // The same name with the dashboard's port, and no Host at all, are refused too.
  assert.equal((await get(m.port, '/api/snapshot', { host: `evil.example:${m.port}` })).status, 421)
  // Node's server answers a request without Host 400 before the dashboard sees it.
  assert.equal((await get(m.port, '/metrics', { host: '' })).status, 400)
  // The content the refusal kept back is there for the dashboard's own address.
  const own = await get(m.port, '/api/snapshot', { host: `127.0.0.1:${m.port}` })
  assert.equal(own.status, 200)
  assert.ok(own.body.includes('4111'), 'the snapshot holds the dead letter')
})

test('loopback names with the port, and names the user allowed, are answered', async () => {
  const m = await monitor({ allowedHosts: ['dash.example'] })
  for (const host of [
    `127.0.0.1:${m.port}`,
    `localhost:${m.port}`,
    `[::1]:${m.port}`,
    'dash.example',
    'DASH.example:8443',
  ])
    assert.equal((await get(m.port, '/metrics', { host })).status, 200, host)
  for (const host of [`localhost:${m.port + 1}`, 'localhost', `other.example:${m.port}`])
    assert.equal((await get(m.port, '/metrics', { host })).status, 421, host)
})

test('bound to every address it needs a token: Bearer, or ?token= that sets a cookie', async () => {
  const m = await monitor({ host: '0.0.0.0' })
  assert.ok(m.token && m.token.length >= 32, 'a generated token')
  const host = `127.0.0.1:${m.port}`
  const without = await get(m.port, '/api/snapshot', { host })
  assert.equal(without.status, 401)
  assert.doesNotMatch(without.body, /4111/)
  assert.equal((await get(m.port, '/metrics', { host, authorization: 'Bearer wrong' })).status, 401)
  assert.equal((await get(m.port, '/metrics', { host, authorization: `Bearer ${m.token}` })).status, 200)

  const login = await get(m.port, `/?token=${m.token}`, { host })
  assert.equal(login.status, 303)
  assert.equal(login.headers.location, '/')
  const cookie = String(login.headers['set-cookie']).split(';')[0] ?? ''
  assert.equal((await get(m.port, '/api/snapshot', { host, cookie })).status, 200)
  // A name is still checked with a token: the token does not stand in for the Host check.
  assert.equal(
    (await get(m.port, '/metrics', { host: 'evil.example', authorization: `Bearer ${m.token}` })).status,
    421,
  )
  // A token given is used as it is.
  const given = await monitor({ host: '0.0.0.0', token: 'given-token-123' })
  assert.equal(given.token, 'given-token-123')
  assert.equal(
    (
      await get(given.port, '/metrics', {
        host: `127.0.0.1:${given.port}`,
        authorization: 'Bearer given-token-123',
      })
    ).status,
    200,
  )
})

test('with a token the browser page loads through the cookie and its event stream goes live', async () => {
  assert.ok(
    existsSync(CHROMIUM),
    `No browser at ${CHROMIUM}: install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH.`,
  )
  const m = await monitor({ host: '0.0.0.0' })
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
    ],
  })
  cleanup.push(() => browser.close())
  const page = await browser.newPage()
  const response = await page.goto(`http://127.0.0.1:${m.port}/?token=${m.token}`)
  assert.equal(response?.status(), 200)
  assert.equal(new URL(page.url()).search, '', 'the token leaves the address bar')
  await page.waitForSelector('#status[data-state="live"]')
  await page.locator('.dead-letters').getByText(/4111/).first().waitFor()
})

test('the live tap answers under the same Host and token rules, for operators of its pipelines only', async () => {
  const m = await monitor({ host: '0.0.0.0' })
  const host = `127.0.0.1:${m.port}`
  const path = '/tap?pipeline=clicks&operator=parse'
  assert.equal(
    (await get(m.port, path, { host: 'evil.example', authorization: `Bearer ${m.token}` })).status,
    421,
  )
  const without = await get(m.port, path, { host })
  assert.equal(without.status, 401)
  const unknown = await get(m.port, '/tap?pipeline=clicks&operator=nope', {
    host,
    authorization: `Bearer ${m.token}`,
  })
  assert.equal(unknown.status, 404)
  assert.match(unknown.body, /no operator "nope"/)
  // The stream itself: its first event names the tap, and never the token.
  const first = await new Promise<string>((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port: m.port, path, headers: { host, authorization: `Bearer ${m.token}` } },
      (res) => {
        assert.equal(res.statusCode, 200)
        assert.match(String(res.headers['content-type']), /^text\/event-stream/)
        let text = ''
        res.on('data', (chunk: Buffer) => {
          text += chunk.toString()
          if (text.includes('event: tap')) {
            req.destroy()
            resolve(text)
          }
        })
      },
    )
    req.on('error', reject)
    req.end()
  })
  assert.match(first, /event: tap\ndata: \{"pipeline":"clicks","operator":"parse"\}/)
  assert.doesNotMatch(first, new RegExp(m.token ?? 'no token'))
})
