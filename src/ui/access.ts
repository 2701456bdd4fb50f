import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { isIP } from 'node:net'

/**
 * Who may read the dashboard and /metrics. The dashboard shows raw dead-letter contents, so:
 * - the Host header must name this server (the bound address with its port, localhost when bound to
 *   loopback, or a name the user allowed): a web page cannot read it through DNS rebinding, where a name it
 *   controls is pointed at 127.0.0.1 and the browser sends `Host: evil.example`;
 * - bound to an address other than loopback, a request must carry the token: `Authorization: Bearer`, or
 *   `?token=` once, which sets a cookie so the page and its event stream keep working.
 */
export interface AccessOptions {
  /** The address the server is bound to. */
  readonly host: string
  readonly port: number
  /** Host names to answer besides the bound address (a reverse proxy's, a DNS name of this machine). */
  readonly allowedHosts?: readonly string[]
  /** Required from every request when given. */
  readonly token?: string
}

export type AccessDecision =
  | { readonly allowed: true }
  /** The token came in the query: set the cookie and send the browser to the same URL without it. */
  | { readonly allowed: 'set-cookie'; readonly cookie: string; readonly location: string }
  | { readonly allowed: false; readonly status: 401 | 421; readonly reason: string }

const COOKIE = 'sluice_ui_token'

export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase()
  return bare === 'localhost' || bare === '::1' || (isIP(bare) === 4 && bare.startsWith('127.'))
}

/** A token for a dashboard reachable from other machines: 192 random bits. */
export function generateToken(): string {
  return randomBytes(24).toString('base64url')
}

export function accessGuard(options: AccessOptions): (request: IncomingMessage) => AccessDecision {
  const bound = bare(options.host)
  const wildcard = bound === '0.0.0.0' || bound === '::'
  const loopback = isLoopback(bound)
  const allowed = new Set((options.allowedHosts ?? []).map((h) => bare(h).toLowerCase()))
  const token = options.token === undefined ? undefined : Buffer.from(options.token)

  const hostAllowed = (header: string | undefined): boolean => {
    if (!header) return false
    const { name, port } = splitHost(header)
    if (allowed.has(name)) return true
    if (port !== options.port) return false
    if (name === bound) return true
    if (loopback && (name === 'localhost' || isLoopback(name))) return true
    // Bound to every address, any address of this machine may be asked for; DNS rebinding needs a name.
    return wildcard && isIP(name) !== 0
  }

  const tokenMatches = (given: string | undefined): boolean => {
    if (token === undefined || given === undefined) return false
    const bytes = Buffer.from(given)
    return bytes.length === token.length && timingSafeEqual(bytes, token)
  }

  return (request) => {
    if (!hostAllowed(request.headers.host))
      return {
        allowed: false,
        status: 421,
        reason: `Host ${JSON.stringify(request.headers.host ?? '')} is not this dashboard's address: open it by its address, or allow the name with --ui-allow-host`,
      }
    if (token === undefined) return { allowed: true }
    if (tokenMatches(bearer(request.headers.authorization)) || tokenMatches(cookie(request.headers.cookie)))
      return { allowed: true }
    const url = new URL(request.url ?? '/', 'http://localhost')
    if (tokenMatches(url.searchParams.get('token') ?? undefined)) {
      url.searchParams.delete('token')
      return {
        allowed: 'set-cookie',
        cookie: `${COOKIE}=${options.token}; HttpOnly; SameSite=Strict; Path=/`,
        location: `${url.pathname}${url.search}`,
      }
    }
    return {
      allowed: false,
      status: 401,
      reason:
        'this dashboard needs its token: open the URL with ?token=… printed at start, or send Authorization: Bearer …',
    }
  }
}

function bare(host: string): string {
  return host.replace(/^\[|\]$/g, '').toLowerCase()
}

/** `name:port`, `[v6]:port` or a name alone (port 80, as HTTP means it). */
function splitHost(header: string): { name: string; port: number } {
  const match = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(header.trim())
  if (!match) return { name: '', port: -1 }
  return { name: bare(match[1] ?? ''), port: match[2] === undefined ? 80 : Number(match[2]) }
}

function bearer(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(header ?? '')
  return match?.[1]
}

function cookie(header: string | undefined): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=')
    if (name === COOKIE) return value.join('=')
  }
  return undefined
}
