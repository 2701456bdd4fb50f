import type { Validation } from '../dsl/parse.ts'
import { describeError, SluiceError, UsageError } from '../errors.ts'
import type { RecordLimits } from '../plan/record-limits.ts'
import { RegistryClient, type RegistryConnection } from './client.ts'
import { type Codec, codecFor } from './codec.ts'
import { RegistryError, SCHEMA_NOT_FOUND } from './errors.ts'
import { openRowEncoder, type RowEncoder, type RowEncoderTarget } from './row-encoder.ts'
import { FORMATS, type RegistryFormat } from './schema-type.ts'
import { schemaIdOf, unframe } from './wire-format.ts'

export interface RegistryOptions extends RegistryConnection {
  /** A subject the records belong to (e.g. `clicks-value`): checked to exist before the first batch. */
  readonly subject?: string
  /** Shown by describe() and in checkpoint fingerprints; default `registry` or the subject. */
  readonly name?: string
  /**
   * Writing (`kafkaSink({ format: registry(…) })`): the format to write. The subject then defaults to
   * `<topic>-value` and the schema to one derived from the pipeline's row type.
   */
  readonly type?: RegistryFormat
  /** Writing: the schema to write with instead of the derived one (Avro JSON, .proto text, JSON Schema). */
  readonly schema?: string | object
}

/**
 * Records in the Confluent wire format, for `.parse()`: `T` is the type of the decoded values (the schema
 * lives in the registry, so it is stated here, e.g. the type `sluice schema pull` wrote).
 */
export interface RegistryParser<T> {
  readonly kind: 'registry'
  readonly name: string
  /** A decoder with its own schema cache, within a pipeline's record limits. */
  readonly decoder: (limits: RecordLimits) => RegistryDecoder
  /**
   * For a Kafka sink: registers the output subject's schema and encodes rows in it; undefined without a
   * `type` (a registry() only for reading).
   */
  readonly encoder: ((target: RowEncoderTarget) => Promise<RowEncoder>) | undefined
  /** The format it writes, when it has a `type`. */
  readonly type: RegistryFormat | undefined
  /** Phantom: the type of the decoded values. */
  readonly __type?: T
}

export interface RegistryDecoder {
  /** Fetches the schemas of the ids among these raw values that are not known yet; run before a batch. */
  readonly prepare: (values: readonly unknown[]) => Promise<void>
  /** Decodes one record with its schema (fetched by prepare), or says why it cannot be. */
  readonly validate: (raw: unknown) => Validation
}

/**
 * Decodes records in the Confluent wire format (magic byte 0, the 4-byte schema id, the payload) as Avro,
 * Protobuf or JSON Schema, whichever type the id's schema has:
 *
 * ```ts
 * pipeline('clicks').from(kafka({ topics: 'clicks' })).parse(registry<Click>({ url: 'http://127.0.0.1:8081' }))
 * ```
 *
 * The same `registry({ url, type: 'avro' })` is a Kafka sink's `format`: rows written in the wire format with
 * the output subject's schema (see kafkaSink).
 *
 * Schemas are fetched by id before the batch that first holds it and kept for the run (an id's schema never
 * changes), so a new version registered mid-run is read as soon as records carry its id, with its fields. A
 * record with an unknown id, another first byte, or a payload its schema does not decode is a dead letter with
 * the reason. A registry that cannot be reached fails the batch (retried like any outage), never a record.
 */
export function registry<T = unknown>(options: RegistryOptions): RegistryParser<T> {
  if (options.type !== undefined && !FORMATS.includes(options.type))
    throw new UsageError(
      `registry(): type must be one of ${FORMATS.join(', ')}, not ${JSON.stringify(options.type)}.`,
    )
  // Checks the URL now, in the pipeline's definition, rather than at the first batch.
  const client = new RegistryClient(options)
  return {
    kind: 'registry',
    name: options.name ?? options.subject ?? 'registry',
    decoder: (limits) => new CachingDecoder(client, limits, options.subject),
    type: options.type,
    encoder:
      options.type === undefined
        ? undefined
        : (target) =>
            openRowEncoder(
              client,
              { type: options.type!, subject: options.subject, schema: options.schema },
              target,
            ),
  }
}

export function isRegistryParser(value: unknown): value is RegistryParser<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { kind?: unknown }).kind === 'registry' &&
    typeof (value as { decoder?: unknown }).decoder === 'function'
  )
}

/** A schema that could not be had: the reason every record with its id is dead-lettered for. */
type Unusable = { readonly reason: string }

class CachingDecoder implements RegistryDecoder {
  readonly #client: RegistryClient
  readonly #limits: RecordLimits
  readonly #schemas = new Map<number, Codec | Unusable>()
  #subject: string | undefined

  constructor(client: RegistryClient, limits: RecordLimits, subject: string | undefined) {
    this.#client = client
    this.#limits = limits
    this.#subject = subject
  }

  prepare = async (values: readonly unknown[]): Promise<void> => {
    if (this.#subject !== undefined) {
      // Refuses a subject the registry does not have (a typo) before anything is read.
      await this.#client.latest(this.#subject)
      this.#subject = undefined
    }
    const missing = new Set<number>()
    for (const value of values) {
      const id = schemaIdOf(value)
      if (id !== undefined && !this.#schemas.has(id)) missing.add(id)
    }
    await Promise.all([...missing].map((id) => this.#fetch(id)))
  }

  validate = (raw: unknown): Validation => {
    const framed = unframe(raw)
    if (!framed.ok) return framed
    const codec = this.#schemas.get(framed.id)
    if (codec === undefined)
      return { ok: false, reason: `schema id ${framed.id} was not fetched (the record was not prepared)` }
    if ('reason' in codec) return { ok: false, reason: codec.reason }
    return codec.decode(framed.payload)
  }

  async #fetch(id: number): Promise<void> {
    let codec: Codec | Unusable
    try {
      codec = codecFor(await this.#client.schemaById(id), this.#limits)
    } catch (error) {
      if (error instanceof RegistryError && error.registryCode === SCHEMA_NOT_FOUND)
        codec = { reason: `schema id ${id} is unknown to the registry at ${this.#client.shownUrl}` }
      else if (error instanceof SluiceError && error.domain === 'user' && !(error instanceof RegistryError))
        codec = { reason: `schema id ${id} cannot be used: ${describeError(error)}` }
      else throw error
    }
    this.#schemas.set(id, codec)
  }
}
