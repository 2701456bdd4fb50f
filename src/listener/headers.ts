import { TextDecoder } from 'node:util'
import { DEAD_LETTER_HEADERS } from '../connectors/kafka/dead-letter-record.ts'
import type { ConsumedRecord } from '../connectors/kafka/records.ts'

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/** A record header as `sluice listen` shows it: the value as UTF-8 text, or base64 when it is not text. */
export interface ShownHeader {
  readonly name: string
  readonly value: string
  readonly base64?: true
}

/** A record's headers in the order Kafka gave them (a name may repeat). */
export function recordHeaders(record: ConsumedRecord): ShownHeader[] {
  return [...record.headers].map(([name, value]) => {
    try {
      return { name: name.toString('utf8'), value: strictUtf8.decode(value) }
    } catch {
      return { name: name.toString('utf8'), value: value.toString('base64'), base64: true }
    }
  })
}

/** Why a dead letter was refused, by which step and from where; undefined for a record that is none. */
export interface DeadLetterInfo {
  readonly reason: string
  readonly operator?: string
  readonly source?: string
}

export function deadLetterInfo(headers: readonly ShownHeader[]): DeadLetterInfo | undefined {
  const get = (name: string) => headers.find((h) => h.name === name)?.value
  const reason = get(DEAD_LETTER_HEADERS.reason)
  if (reason === undefined) return undefined
  const operator = get(DEAD_LETTER_HEADERS.operator)
  const source = get(DEAD_LETTER_HEADERS.source)
  return {
    reason,
    ...(operator === undefined ? {} : { operator }),
    ...(source === undefined ? {} : { source }),
  }
}
