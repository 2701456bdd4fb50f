import { TextDecoder } from 'node:util'
import type { ConsumedRecord } from '../connectors/kafka/records.ts'
import { deadLetterInfo, recordHeaders, type ShownHeader } from './headers.ts'

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/** A record's bytes, decoded as much as they allow: JSON, else UTF-8 text, else base64. */
export type DecodedPayload =
  | { readonly kind: 'json'; readonly value: unknown; readonly text: string }
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'binary'; readonly base64: string }
  | { readonly kind: 'null' }

export function decodePayload(bytes: Buffer | null | undefined): DecodedPayload {
  if (bytes === null || bytes === undefined) return { kind: 'null' }
  let text: string
  try {
    text = strictUtf8.decode(bytes)
  } catch {
    return { kind: 'binary', base64: bytes.toString('base64') }
  }
  try {
    return { kind: 'json', value: JSON.parse(text), text }
  } catch {
    return { kind: 'text', text }
  }
}

function payloadJson(payload: DecodedPayload): Record<string, unknown> {
  switch (payload.kind) {
    case 'json':
      return { value: payload.value }
    case 'text':
      return { value: payload.text, valueFormat: 'text' }
    case 'binary':
      return { value: payload.base64, valueFormat: 'base64' }
    case 'null':
      return { value: null }
  }
}

export interface RenderOptions {
  /** Every header of each record; without it only a dead letter's reason (and step and source) shows. */
  readonly headers?: boolean
}

/** The headers as a JSON object; a value that is not UTF-8 text is "base64:…". */
function headersJson(headers: readonly ShownHeader[]): Record<string, string> {
  return Object.fromEntries(headers.map((h) => [h.name, h.base64 ? `base64:${h.value}` : h.value]))
}

/**
 * One JSON line per record: position, key, timestamp, the value (parsed when it is JSON), a dead letter's
 * `deadLetter: { reason, operator, source }`, and with `headers` every header.
 */
export function renderJsonLine(
  record: ConsumedRecord,
  payload: DecodedPayload,
  options: RenderOptions = {},
): string {
  const headers = recordHeaders(record)
  const deadLetter = options.headers ? undefined : deadLetterInfo(headers)
  return JSON.stringify({
    topic: record.topic,
    partition: record.partition,
    offset: record.offset.toString(),
    timestamp: new Date(Number(record.timestamp)).toISOString(),
    key: record.key ? record.key.toString('utf8') : null,
    ...(options.headers ? { headers: headersJson(headers) } : {}),
    ...(deadLetter ? { deadLetter } : {}),
    ...payloadJson(payload),
  })
}

/**
 * A human-oriented block: a line with the position, a dead letter's reason (or with `headers` a line per
 * header), then the value (indented JSON when it is JSON).
 */
export function renderPretty(
  record: ConsumedRecord,
  payload: DecodedPayload,
  color: boolean,
  options: RenderOptions = {},
): string {
  const dim = (s: string) => (color ? `\x1b[2m${s}\x1b[0m` : s)
  const bold = (s: string) => (color ? `\x1b[1m${s}\x1b[0m` : s)
  const red = (s: string) => (color ? `\x1b[31m${s}\x1b[0m` : s)
  const headers = recordHeaders(record)
  const deadLetter = options.headers ? undefined : deadLetterInfo(headers)
  const lines = [
    `${bold(`${record.topic}[${record.partition}]@${record.offset}`)} ${dim(
      `key=${record.key ? record.key.toString('utf8') : '(null)'} ${new Date(Number(record.timestamp)).toISOString()}`,
    )}`,
  ]
  if (options.headers)
    for (const h of headers) lines.push(dim(`  ${h.name}: ${h.value}${h.base64 ? ' (base64)' : ''}`))
  if (deadLetter) {
    const where = [
      deadLetter.operator === undefined ? '' : `step ${deadLetter.operator}`,
      deadLetter.source === undefined ? '' : `source ${deadLetter.source}`,
    ].filter(Boolean)
    lines.push(
      `${red('dead letter:')} ${deadLetter.reason}${where.length ? dim(` (${where.join(', ')})`) : ''}`,
    )
  }
  let body: string
  switch (payload.kind) {
    case 'json':
      body = JSON.stringify(payload.value, null, 2)
      break
    case 'text':
      body = payload.text
      break
    case 'binary':
      body = `(binary, base64) ${payload.base64}`
      break
    case 'null':
      body = '(null)'
  }
  return `${lines.join('\n')}\n${body}\n`
}
