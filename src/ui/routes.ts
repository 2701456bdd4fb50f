import { readFile } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import type { Registry } from 'prom-client'
import type { Taps } from '../runtime/tap.ts'
import type { AccessDecision } from './access.ts'
import type { DashboardState } from './dashboard-state.ts'
import { type EventHub, openStream } from './sse.ts'

const require = createRequire(import.meta.url)
const staticFile = (name: string) => fileURLToPath(new URL(`./static/${name}`, import.meta.url))

/** Every file the server hands out, by URL path: a fixed list, so no request can name another file. */
const FILES: Readonly<Record<string, { readonly path: string; readonly type: string }>> = {
  '/': { path: staticFile('index.html'), type: 'text/html; charset=utf-8' },
  '/app.js': { path: staticFile('app.js'), type: 'text/javascript; charset=utf-8' },
  '/app.css': { path: staticFile('app.css'), type: 'text/css; charset=utf-8' },
  '/vendor/uPlot.esm.js': {
    path: require.resolve('uplot/dist/uPlot.esm.js'),
    type: 'text/javascript; charset=utf-8',
  },
  '/vendor/uPlot.min.css': {
    path: require.resolve('uplot/dist/uPlot.min.css'),
    type: 'text/css; charset=utf-8',
  },
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'content-security-policy':
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
}

export interface RouteContext {
  readonly registry: Registry
  readonly state: DashboardState
  readonly events: EventHub
  readonly taps: Taps
  /** False: only /metrics is served. */
  readonly dashboard: boolean
  /** Whether the request may be answered (access.ts): checked before anything else. */
  readonly access: (request: IncomingMessage) => AccessDecision
}

/**
 * GET /metrics (Prometheus), and with the dashboard: the page, its assets, /api/snapshot, /events (SSE) and
 * /tap?pipeline=…&operator=… (SSE: the operator's records while the stream is open).
 */
export function handleRequest(
  context: RouteContext,
  request: IncomingMessage,
  response: ServerResponse,
): void {
  route(context, request, response).catch((error: unknown) => {
    if (!response.headersSent)
      send(response, 500, 'text/plain; charset=utf-8', `internal error: ${String(error)}`)
    else response.destroy()
  })
}

async function route(
  context: RouteContext,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const access = context.access(request)
  if (access.allowed === false)
    return send(response, access.status, 'text/plain; charset=utf-8', `${access.reason}\n`)
  if (access.allowed === 'set-cookie') {
    response.setHeader('set-cookie', access.cookie)
    response.setHeader('location', access.location)
    return send(response, 303, 'text/plain; charset=utf-8', 'token accepted\n')
  }
  const url = new URL(request.url ?? '/', 'http://localhost')
  const path = url.pathname
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.setHeader('allow', 'GET, HEAD')
    return send(response, 405, 'text/plain; charset=utf-8', 'method not allowed\n')
  }
  if (path === '/metrics') {
    return send(response, 200, context.registry.contentType, await context.registry.metrics())
  }
  if (context.dashboard) {
    if (path === '/events' && request.method === 'GET') {
      return context.events.open(request, response, { event: 'snapshot', data: context.state.snapshot() })
    }
    if (path === '/tap' && request.method === 'GET') return openTap(context, url, request, response)
    if (path === '/api/snapshot') {
      return send(response, 200, 'application/json; charset=utf-8', JSON.stringify(context.state.snapshot()))
    }
    const file = FILES[path]
    if (file) return send(response, 200, file.type, await readFile(file.path))
  }
  send(response, 404, 'text/plain; charset=utf-8', 'not found\n')
}

/** A tap is open exactly while its stream is: a page closed or gone stops the sampling. */
function openTap(context: RouteContext, url: URL, request: IncomingMessage, response: ServerResponse): void {
  const pipeline = url.searchParams.get('pipeline') ?? ''
  const operator = url.searchParams.get('operator') ?? ''
  if (!context.state.hasOperator(pipeline, operator)) {
    send(
      response,
      404,
      'text/plain; charset=utf-8',
      `no operator ${JSON.stringify(operator)} in a pipeline ${JSON.stringify(pipeline)} of this process\n`,
    )
    return
  }
  const emit = openStream(response)
  emit('tap', { pipeline, operator })
  const close = context.taps.open(pipeline, operator, (records) => emit('records', records))
  request.once('close', close)
  response.once('close', close)
}

function send(response: ServerResponse, status: number, type: string, body: string | Buffer): void {
  response.writeHead(status, {
    ...SECURITY_HEADERS,
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  })
  response.end(response.req.method === 'HEAD' ? undefined : body)
}
