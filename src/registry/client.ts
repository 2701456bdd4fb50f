import { UsageError } from '../errors.ts'
import { RegistryError } from './errors.ts'
import type { SchemaType } from './schema-type.ts'

/** Where the registry is and who we are to it. The password is never part of a message or a log line. */
export interface RegistryConnection {
  /** The Confluent-compatible API's base URL, e.g. http://127.0.0.1:8081 or Apicurio's …/apis/ccompat/v7. */
  readonly url: string
  /** Basic auth. Also taken from credentials in the URL (https://user:pass@host). */
  readonly username?: string
  readonly password?: string
  /** Per request; default 30 s. */
  readonly timeoutMs?: number
}

/** A schema as the registry keeps it: its text (Avro JSON, .proto source or JSON Schema JSON) and type. */
export interface RegisteredSchema {
  readonly schemaType: SchemaType
  readonly schema: string
}

export interface SubjectVersion extends RegisteredSchema {
  readonly subject: string
  readonly id: number
  readonly version: number
}

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json'

/**
 * The parts of the Confluent schema registry REST API Sluice uses, over fetch. Errors are RegistryErrors with
 * the registry's message; schemas by id are immutable, so callers may cache them forever.
 */
export class RegistryClient {
  readonly #base: string
  readonly #authorization: string | undefined
  readonly #timeoutMs: number
  /** The URL without credentials: the only form that appears in messages. */
  readonly shownUrl: string

  constructor(connection: RegistryConnection) {
    let url: URL
    try {
      url = new URL(connection.url)
    } catch {
      throw new UsageError(`The schema registry URL is not a URL: "${redactUrl(connection.url)}".`)
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new RegistryError(`The schema registry URL must be http(s), got ${url.protocol}.`, {
        status: 400,
      })
    const username = connection.username ?? decodeURIComponent(url.username)
    const password = connection.password ?? decodeURIComponent(url.password)
    url.username = ''
    url.password = ''
    this.#base = url.href.replace(/\/+$/, '')
    this.shownUrl = this.#base
    this.#authorization =
      username !== '' ? `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` : undefined
    this.#timeoutMs = connection.timeoutMs ?? 30_000
  }

  /** The schema a record's id names (GET /schemas/ids/{id}). */
  async schemaById(id: number): Promise<RegisteredSchema> {
    const body = await this.#request('GET', `/schemas/ids/${id}`)
    return registered(body, `schema ${id}`)
  }

  /** The subject's newest version (GET /subjects/{subject}/versions/latest). */
  async latest(subject: string): Promise<SubjectVersion> {
    const body = await this.#request('GET', `/subjects/${encodeURIComponent(subject)}/versions/latest`)
    const { id, version } = body as { id?: unknown; version?: unknown }
    if (typeof id !== 'number' || typeof version !== 'number')
      throw new RegistryError(`The registry's answer for ${subject}'s latest version has no id or version.`)
    return { ...registered(body, subject), subject, id, version }
  }

  /**
   * Registers the schema under the subject, or finds it registered already, and returns its id (POST
   * /subjects/{subject}/versions). The registry refuses an incompatible schema: a RegistryError with its
   * message (409).
   */
  async register(subject: string, schema: RegisteredSchema): Promise<number> {
    const body = await this.#request(
      'POST',
      `/subjects/${encodeURIComponent(subject)}/versions`,
      requestBody(schema),
    )
    const id = (body as { id?: unknown }).id
    if (typeof id !== 'number') throw new RegistryError(`The registry's answer for ${subject} has no id.`)
    return id
  }

  /**
   * Whether the schema could be registered under the subject: true, or the reasons it could not (POST
   * /compatibility/subjects/{subject}/versions/latest?verbose=true). A subject without versions takes any.
   */
  async compatibility(subject: string, schema: RegisteredSchema): Promise<true | readonly string[]> {
    const body = (await this.#request(
      'POST',
      `/compatibility/subjects/${encodeURIComponent(subject)}/versions/latest?verbose=true`,
      requestBody(schema),
    )) as { is_compatible?: unknown; messages?: unknown }
    if (body.is_compatible === true) return true
    return Array.isArray(body.messages) ? body.messages.map(String) : []
  }

  /** Sets the subject's compatibility level (PUT /config/{subject}): BACKWARD, FORWARD, FULL, NONE… */
  async setCompatibility(subject: string, level: string): Promise<void> {
    await this.#request('PUT', `/config/${encodeURIComponent(subject)}`, { compatibility: level })
  }

  async #request(method: string, path: string, body?: unknown): Promise<unknown> {
    const headers: Record<string, string> = { accept: CONTENT_TYPE }
    if (body !== undefined) headers['content-type'] = CONTENT_TYPE
    if (this.#authorization) headers.authorization = this.#authorization
    const where = `${method} ${this.shownUrl}${path}`
    let response: Response
    try {
      response = await fetch(`${this.#base}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.#timeoutMs),
      })
    } catch (error) {
      throw new RegistryError(`The schema registry did not answer ${where}`, { cause: error })
    }
    const text = await response.text()
    let parsed: unknown
    try {
      parsed = text === '' ? {} : JSON.parse(text)
    } catch {
      parsed = undefined
    }
    if (response.ok && parsed !== undefined) return parsed
    const { message, error_code: code } = (parsed ?? {}) as { message?: unknown; error_code?: unknown }
    const said = typeof message === 'string' ? message : text.slice(0, 300) || response.statusText
    throw new RegistryError(
      `The schema registry refused ${where} (HTTP ${response.status}${typeof code === 'number' ? `, error ${code}` : ''}): ${said}`,
      { status: response.status, ...(typeof code === 'number' ? { registryCode: code } : {}) },
    )
  }
}

function registered(body: unknown, what: string): RegisteredSchema {
  const { schema, schemaType } = body as { schema?: unknown; schemaType?: unknown }
  if (typeof schema !== 'string') throw new RegistryError(`The registry's answer for ${what} has no schema.`)
  // Confluent leaves schemaType out for Avro, the first format it had.
  const type = schemaType ?? 'AVRO'
  if (type !== 'AVRO' && type !== 'PROTOBUF' && type !== 'JSON')
    throw new RegistryError(
      `The registry's ${what} is of type ${String(type)}: expected AVRO, PROTOBUF or JSON.`,
    )
  return { schema, schemaType: type }
}

function requestBody(schema: RegisteredSchema): Record<string, string> {
  return schema.schemaType === 'AVRO'
    ? { schema: schema.schema }
    : { schema: schema.schema, schemaType: schema.schemaType }
}

/** The URL with any password replaced, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^/@:]*):[^/@]*@/, '//$1:***@')
}
