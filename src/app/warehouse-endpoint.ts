import { randomBytes, timingSafeEqual } from 'node:crypto'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type DuckDBConnection, StatementType } from '@duckdb/node-api'
import { acquireDatabase, databaseKey, type SharedDatabase } from '../connectors/duckdb/database.ts'
import { describeError, SluiceError } from '../errors.ts'

/**
 * Queries on a DuckDB warehouse while the job that writes it runs. DuckDB lets one process open a database file
 * for writing, and no other process may open it at all meanwhile, so `sluice query` asks the running job:
 * the job serves read-only queries on its own instance of the file, on 127.0.0.1, to whoever can read the
 * endpoint file it writes beside the warehouse (mode 0600: the user who runs the job).
 */

/** Where a running job says how to reach it: beside the warehouse file. */
export function endpointFile(warehousePath: string): string {
  return `${warehousePath}.query-endpoint.json`
}

interface Endpoint {
  readonly port: number
  readonly token: string
  readonly pid: number
}

/** A query on one connection: the rows, values as JavaScript gives them (DuckDB's JS conversion). */
export type RunQuery = (connection: DuckDBConnection, sql: string) => Promise<Record<string, unknown>[]>

/**
 * Serves read-only queries on the warehouse at `warehousePath` until closed. `runQuery` runs one on a
 * connection of the job's own instance (the one its sinks write through), inside a transaction that is rolled
 * back, after every statement was checked to be a SELECT or an EXPLAIN.
 */
export async function serveWarehouseQueries(
  warehousePath: string,
  runQuery: RunQuery,
): Promise<{ close(): Promise<void> }> {
  const token = randomBytes(24).toString('hex')
  const server = createServer((request, response) => {
    void answer(request, response, token, warehousePath, runQuery)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const file = endpointFile(warehousePath)
  const endpoint: Endpoint = { port: (server.address() as AddressInfo).port, token, pid: process.pid }
  await writeFile(file, JSON.stringify(endpoint), { mode: 0o600 })
  let closing: Promise<void> | undefined
  return {
    close() {
      closing ??= rm(file, { force: true }).then(() => closeServer(server))
      return closing
    },
  }
}

/**
 * Runs `sql` through the job running on `warehousePath`, if one serves queries; undefined when none does (no
 * endpoint file, or its process is gone).
 */
export async function queryRunningJob(
  warehousePath: string,
  sql: string,
): Promise<Record<string, unknown>[] | undefined> {
  let endpoint: Endpoint
  try {
    endpoint = JSON.parse(await readFile(endpointFile(warehousePath), 'utf8')) as Endpoint
  } catch {
    return undefined
  }
  let response: Response
  try {
    response = await fetch(`http://127.0.0.1:${endpoint.port}/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${endpoint.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sql }),
    })
  } catch {
    return undefined // a job killed without removing its file
  }
  const body = (await response.json()) as {
    rows?: Record<string, unknown>[]
    error?: string
    code?: string
    detail?: string
  }
  if (!response.ok || !body.rows)
    throw new SluiceError(
      body.code ?? 'SLUICE_QUERY',
      body.error ?? `query failed (HTTP ${response.status})`,
      {
        domain: 'user',
        // The database's own message, as when the file is read directly (a missing table is "no warehouse yet").
        ...(body.detail ? { cause: new Error(body.detail) } : {}),
        ...(body.code === 'SLUICE_QUERY_READ_ONLY' ? { exitCode: 2 } : {}),
      },
    )
  return body.rows
}

async function answer(
  request: IncomingMessage,
  response: ServerResponse,
  token: string,
  warehousePath: string,
  runQuery: RunQuery,
): Promise<void> {
  const reply = (status: number, body: unknown) => {
    response.writeHead(status, { 'content-type': 'application/json' })
    response.end(
      JSON.stringify(body, (_key, value: unknown) => (typeof value === 'bigint' ? String(value) : value)),
    )
  }
  if (request.method !== 'POST' || request.url !== '/query') return reply(404, { error: 'not found' })
  if (!authorized(request.headers.authorization, token)) return reply(401, { error: 'unauthorized' })
  let sql: string
  try {
    const chunks: Buffer[] = []
    for await (const chunk of request) chunks.push(chunk as Buffer)
    sql = String((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { sql?: unknown }).sql ?? '')
  } catch {
    return reply(400, { error: 'the body must be JSON: {"sql": "..."}' })
  }
  let database: SharedDatabase
  try {
    database = await acquireDatabase(databaseKey(warehousePath), warehousePath)
  } catch (error) {
    return reply(500, { error: describeError(error) })
  }
  let connection: DuckDBConnection | undefined
  try {
    const open = await database.connect()
    connection = open
    const refused = await writingStatement(open, sql)
    if (refused)
      return reply(400, {
        code: 'SLUICE_QUERY_READ_ONLY',
        error: `the running job answers read-only queries (SELECT, EXPLAIN): ${refused}`,
      })
    await open.run('BEGIN TRANSACTION')
    try {
      // Dates as ISO strings, as `sluice query` prints them when it reads the file itself.
      return reply(200, { rows: (await runQuery(open, sql)).map(datesAsText) })
    } finally {
      await open.run('ROLLBACK').catch(() => {})
    }
  } catch (error) {
    const detail = describeError(error)
    return reply(400, { code: 'SLUICE_QUERY', error: `query failed: ${detail}`, detail })
  } finally {
    connection?.closeSync()
    database.release()
  }
}

/** Types of DuckDB statements a read-only query may hold. */
const READING = new Set<number>([StatementType.SELECT, StatementType.EXPLAIN])

/** A description of the first statement in `sql` that is not a read, or undefined when all read. */
async function writingStatement(connection: DuckDBConnection, sql: string): Promise<string | undefined> {
  const statements = await connection.extractStatements(sql)
  for (let i = 0; i < statements.count; i++) {
    const prepared = await statements.prepare(i)
    const type = prepared.statementType
    prepared.destroySync()
    if (!READING.has(type)) return `statement ${i + 1} is ${StatementType[type] ?? `of type ${type}`}`
  }
  return undefined
}

function authorized(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header ?? '')
  const expected = Buffer.from(`Bearer ${token}`)
  return given.length === expected.length && timingSafeEqual(given, expected)
}

function datesAsText(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(row))
    out[key] = value instanceof Date ? value.toISOString() : value
  return out
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections()
  })
}
