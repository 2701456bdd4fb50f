import type { RecordMeta } from '../../contracts/record-meta.ts'
import type { SourceRecord } from '../source.ts'

/** A record's RecordMeta, decoded when a field is first read (most steps read one field, or none). */
class RecordMetaView implements RecordMeta {
  readonly #record: SourceRecord
  #headers: Readonly<Record<string, string>> | undefined

  constructor(record: SourceRecord) {
    this.#record = record
  }

  get key(): string | null {
    const key = this.#record.key
    if (key === null || key === undefined) return null
    return typeof key === 'string' ? key : key.toString('utf8')
  }

  get keyBytes(): Buffer | null {
    const key = this.#record.key
    if (key === null || key === undefined) return null
    return typeof key === 'string' ? Buffer.from(key, 'utf8') : key
  }

  get timestamp(): number {
    return this.#record.timestamp
  }

  get partition(): string {
    return this.#record.partition
  }

  get offset(): number {
    return this.#record.offset
  }

  get headers(): Readonly<Record<string, string>> {
    if (this.#headers === undefined) {
      const headers: Record<string, string> = {}
      for (const [name, value] of this.#record.headers ?? [])
        headers[text(name)] = value === null || value === undefined ? '' : text(value)
      this.#headers = Object.freeze(headers)
    }
    return this.#headers
  }

  toJSON(): RecordMeta {
    const { key, timestamp, partition, offset, headers } = this
    return { key, keyBytes: this.keyBytes, timestamp, partition, offset, headers }
  }
}

function text(value: Buffer | string): string {
  return typeof value === 'string' ? value : value.toString('utf8')
}

export function recordMeta(record: SourceRecord): RecordMeta {
  return new RecordMetaView(record)
}

/**
 * Whether a step function reads its second argument: only then is a RecordMeta made per record (a function
 * of one parameter, the common case, costs nothing).
 */
export function readsMeta(fn: (...args: never[]) => unknown): boolean {
  return fn.length >= 2
}
