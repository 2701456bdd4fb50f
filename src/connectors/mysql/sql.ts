/**
 * SQL text helpers for the MySQL/MariaDB sink: identifier quoting, connection URLs and value conversion.
 * Values never enter SQL text: every statement is prepared and its values travel as bound parameters.
 */
import type { PoolOptions } from 'mysql2/promise'
import { UsageError } from '../../errors.ts'
import { basicNameProblem } from '../sql/index.ts'

/** Identifiers are at most 64 characters in MySQL and MariaDB. */
const MAX_IDENTIFIER = 64

/** Checks a table or column name the server would refuse, so the user hears it from us, with the name. */
export function checkIdentifier(name: string, what: string): void {
  if (typeof name !== 'string' || name.length === 0) throw new UsageError(`mysql(): ${what} must be a name.`)
  if (name.length > MAX_IDENTIFIER)
    throw new UsageError(
      `mysql(): ${what} ${JSON.stringify(name)} is longer than ${MAX_IDENTIFIER} characters, the server's limit.`,
    )
  if (name.includes('\u0000'))
    throw new UsageError(`mysql(): ${what} ${JSON.stringify(name)} contains a NUL character.`)
  if (name.endsWith(' '))
    throw new UsageError(
      `mysql(): ${what} ${JSON.stringify(name)} ends with a space, which the server refuses.`,
    )
}

/**
 * Why a field name cannot be a column name, or undefined: empty, a NUL, longer than 64 characters, a
 * trailing space, or a character outside the Basic Multilingual Plane (MariaDB refuses an emoji in a name).
 */
export function columnNameProblem(name: string): string | undefined {
  const basic = basicNameProblem(name)
  if (basic !== undefined) return basic
  if (name.length > MAX_IDENTIFIER)
    return `MariaDB column names have at most ${MAX_IDENTIFIER} characters, this one ${name.length}`
  if (name.endsWith(' ')) return 'MariaDB refuses column names that end with a space'
  if (/[\u{10000}-\u{10FFFF}]/u.test(name))
    return 'MariaDB column names cannot hold characters outside the Basic Multilingual Plane (such as emoji)'
  return undefined
}

/** `name` quoted as an identifier: backticks around it, embedded backticks doubled. */
export function quoteId(name: string): string {
  return '`' + name.replaceAll('`', '``') + '`'
}

export interface ParsedUrl {
  readonly pool: PoolOptions
  /** The URL without its password, for descriptions and errors. */
  readonly redacted: string
  readonly database: string
}

/**
 * `mysql://user:password@host:3306/database` (or `mariadb://`); `?socket=/path` connects over a Unix socket.
 * The database is required: the sink's tables live in it.
 */
export function parseMySqlUrl(url: string): ParsedUrl {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch (error) {
    throw new UsageError(
      'mysql(): the url is not a URL; expected mysql://user:password@host:3306/database.',
      error,
    )
  }
  if (parsed.protocol !== 'mysql:' && parsed.protocol !== 'mariadb:')
    throw new UsageError(
      `mysql(): the url must start with mysql:// or mariadb://, not ${parsed.protocol}//; expected mysql://user:password@host:3306/database.`,
    )
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''))
  if (!database)
    throw new UsageError(
      `mysql(): the url ${redact(parsed)} names no database; expected mysql://user:password@host:3306/database.`,
    )
  const socketPath = parsed.searchParams.get('socket') ?? undefined
  const pool: PoolOptions = {
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 3306,
    user: decodeURIComponent(parsed.username) || 'root',
    password: decodeURIComponent(parsed.password),
    database,
    ...(socketPath ? { socketPath } : {}),
  }
  return { pool, redacted: redact(parsed), database }
}

function redact(url: URL): string {
  const copy = new URL(url.href)
  copy.password = ''
  return copy.href
}

/** An ISO-8601 date-time with a zone (`Z` or `±hh:mm`), as the pipeline's event times are written. */
export const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/

/** The usual shape, `2026-03-02T09:00:01.270Z` (Date#toISOString): converted by slicing. */
const ISO_UTC_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

/** A UTC instant as DATETIME(3) text, `2026-03-02 09:00:01.270`; the session's time zone is UTC. */
export function toSqlDateTime(ms: number): string {
  const iso = new Date(ms).toISOString() // 2026-03-02T09:00:01.270Z
  return iso.slice(0, 10) + ' ' + iso.slice(11, 23)
}

/** ISO strings with a zone and Date objects become UTC DATETIME text; anything else is left to the server. */
export function toSqlTimestamp(value: unknown): unknown {
  if (value instanceof Date)
    return Number.isNaN(value.getTime()) ? 'Invalid Date' : toSqlDateTime(value.getTime())
  if (typeof value === 'string' && ISO_UTC_MS.test(value))
    return value.slice(0, 10) + ' ' + value.slice(11, 23)
  if (typeof value === 'string' && ISO_TIMESTAMP.test(value)) {
    const ms = Date.parse(value)
    if (Number.isFinite(ms)) return toSqlDateTime(ms)
  }
  return value
}
